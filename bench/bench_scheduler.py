#!/usr/bin/env python
"""Benchmark the worker's scheduling (not a test).

1. Start latency: N schedules (default 100) due at the same moment, W worker
   processes (default 2) sharing one metadata database, each backing up a
   small SQLite file to a local folder. Prints p50 / p99 / max of
   (started_at - due time) and the number of duplicate runs (must be 0).
2. Pass cost: one scheduling pass (reap + claim + heartbeat + next-due query)
   with 10,000 enabled schedules in the table, none due; and claim_due() of
   10 due schedules among them. Target: <= 50 ms per pass.

Both run on SQLite metadata and, when a PostgreSQL server is given
(--pg-url postgres://user:pw@host:port/postgres, or the BM_TEST_PG_* variables
that bin/test exports), on a fresh PostgreSQL database created and dropped
here.

    .venv/bin/python bench/bench_scheduler.py [--schedules 100] [--workers 2] [--concurrency 50 8]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


# --- helpers -----------------------------------------------------------------------------


def base_env(database_url: str, data_dir: Path, root: Path) -> dict:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BM_WORKER"))}
    env.update(
        DJANGO_SETTINGS_MODULE="backupmanager.settings",
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY="bench-secret-key-0123456789abcdef-0123456789abcdef",
        BM_ENCRYPTION_KEYS=os.environ.get("BENCH_FERNET_KEY") or Fernet.generate_key().decode(),
        BM_DATA_DIR=str(data_dir),
        BM_ALLOWED_ROOTS=str(root),
        BM_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


class Site:
    """A metadata database plus folders; PostgreSQL databases are created and dropped here."""

    def __init__(self, kind: str, pg_admin_url: str | None, workdir: Path):
        self.kind = kind
        self.workdir = workdir
        self.root = workdir / "backups"
        self.data = workdir / "data"
        self.src = workdir / "src"
        for p in (self.root, self.data, self.src):
            p.mkdir(parents=True, exist_ok=True)
        self.pg_admin_url = pg_admin_url
        self.pg_name = None
        if kind == "sqlite":
            self.url = f"sqlite:///{workdir / 'meta.sqlite3'}"
        else:
            import psycopg2

            self.pg_name = f"bm_bench_{secrets.token_hex(4)}"
            conn = psycopg2.connect(pg_admin_url)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.pg_name}"')
            conn.close()
            parts = urlsplit(pg_admin_url)
            self.url = urlunsplit(parts._replace(path=f"/{self.pg_name}"))
        self.env = base_env(self.url, self.data, self.root)
        out = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(out.stderr)

    def drop(self) -> None:
        if self.pg_name:
            import psycopg2

            conn = psycopg2.connect(self.pg_admin_url)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid()",
                    [self.pg_name],
                )
                cur.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}"')
            conn.close()


def in_site(site: Site, mode: str, *args: str) -> dict:
    """Run this script's inner mode against the site's database; return its JSON output."""
    out = subprocess.run(
        [sys.executable, __file__, "--inner", mode, str(site.root), str(site.src), *args],
        cwd=REPO,
        env=site.env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"{mode} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- inner modes (run with DJANGO settings pointing at the site) ---------------------------


def _django():
    import django

    django.setup()


def inner_setup_latency(root: Path, src: Path, count: int, due_in: float) -> dict:
    _django()
    from datetime import timedelta

    from django.utils import timezone

    from apps.databases.models import Database
    from apps.destinations.models import Destination
    from apps.groups.models import Group
    from apps.schedules.models import Schedule

    group = Group.objects.create(name=f"bench-{secrets.token_hex(3)}")
    due = timezone.now().replace(microsecond=0) + timedelta(seconds=due_in)
    for i in range(count):
        path = src / f"src-{group.pk}-{i}.sqlite3"
        conn = sqlite3.connect(path)
        conn.execute("create table t (x)")
        conn.executemany("insert into t values (?)", [(n,) for n in range(100)])
        conn.commit()
        conn.close()
        db = Database.objects.create(
            group=group, name=f"db-{i}", engine="sqlite", database_name=str(path), compression="none"
        )
        dest = root / f"{group.pk}-{i}"
        dest.mkdir()
        Destination.objects.create(database=db, name="local", path=str(dest))
        Schedule.objects.create(
            database=db, name="s", interval_value="daily", cron_expression="0 0 * * *", next_run_at=due
        )
    return {"due": due.isoformat(), "group": group.pk}


def inner_collect(root: Path, src: Path, group_id: int) -> dict:
    _django()
    from django.db.models import Count

    from apps.backups.models import Backup
    from apps.schedules.models import ScheduleRun

    backups = Backup.objects.filter(database__group_id=group_id)
    rows = [
        (b.schedule_id, b.status, b.started_at.isoformat() if b.started_at else None, b.worker_id, b.error)
        for b in backups
    ]
    runs = {
        r.backup_id: r.slot_at.isoformat()
        for r in ScheduleRun.objects.filter(schedule__database__group_id=group_id)
    }
    dup_runs = (
        ScheduleRun.objects.filter(schedule__database__group_id=group_id)
        .values("schedule_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    slots = [runs.get(b.pk) for b in backups]
    return {"rows": rows, "slots": slots, "duplicate_runs": dup_runs}


def inner_pass_cost(root: Path, src: Path, total: int, passes: int) -> dict:
    _django()
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from apps.databases.models import Database
    from apps.groups.models import Group
    from apps.schedules import worker
    from apps.schedules.models import Schedule

    group = Group.objects.create(name=f"pass-{secrets.token_hex(3)}")
    per_db = 10
    now = timezone.now()
    dbs = Database.objects.bulk_create(
        Database(group=group, name=f"p-{i}", engine="sqlite", database_name=f"/nonexistent/p-{i}.sqlite3")
        for i in range(total // per_db)
    )
    Schedule.objects.bulk_create(
        Schedule(
            database=db,
            name=f"s{j}",
            interval_value="daily",
            cron_expression="0 0 * * *",
            next_run_at=now + timedelta(minutes=5 + (i * per_db + j) % 1440),
        )
        for i, db in enumerate(dbs)
        for j in range(per_db)
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    enabled = Schedule.objects.filter(enabled=True).count()

    scheduler = worker.Scheduler(concurrency=10, worker_id="bench-pass")
    scheduler.run_pass()  # warm up: connection, first heartbeat row
    idle = []
    for _ in range(passes):
        t = time.perf_counter()
        scheduler.run_pass()
        scheduler.sleep_seconds()
        idle.append((time.perf_counter() - t) * 1000)

    # A pass that also writes the worker heartbeat.
    beats = []
    for _ in range(max(5, passes // 5)):
        scheduler._last_beat = -1e9
        t = time.perf_counter()
        scheduler.run_pass()
        beats.append((time.perf_counter() - t) * 1000)

    # Claim 10 due schedules among the 10,000 (claims only; the jobs are not run).
    due_ids = list(Schedule.objects.order_by("id").values_list("id", flat=True)[: 10 * per_db : per_db])
    Schedule.objects.filter(pk__in=due_ids).update(next_run_at=now - timedelta(seconds=1))
    t = time.perf_counter()
    claimed = worker.claim_due(timezone.now(), "bench-pass", limit=10)
    claim_ms = (time.perf_counter() - t) * 1000
    return {
        "enabled": enabled,
        "idle_p50": statistics.median(idle),
        "idle_p99": percentile(idle, 99),
        "idle_max": max(idle),
        "beat_p50": statistics.median(beats),
        "claim10_ms": claim_ms,
        "claimed": len(claimed),
    }


# --- outer scenarios --------------------------------------------------------------------------


def latency(site: Site, count: int, workers: int, concurrency: int) -> dict:
    setup = in_site(site, "setup_latency", str(count), "12")
    due = setup["due"]
    procs = []
    logs = []
    for n in range(workers):
        log = open(site.data / f"worker-{concurrency}-{n}.log", "w")  # noqa: SIM115
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "runscheduler", "--concurrency", str(concurrency)],
                cwd=REPO,
                env=site.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    deadline = time.monotonic() + 180
    result = None
    while time.monotonic() < deadline:
        time.sleep(2)
        result = in_site(site, "collect", str(setup["group"]))
        rows = result["rows"]
        if len(rows) >= count and all(r[1] in ("completed", "partial", "failed") for r in rows):
            break
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    codes = [proc.wait(60) for proc in procs]
    for log in logs:
        log.close()
    from datetime import datetime

    due_at = datetime.fromisoformat(due)
    rows = result["rows"]
    late = [(datetime.fromisoformat(r[2]) - due_at).total_seconds() for r in rows if r[2]]
    per_schedule = {}
    for r in rows:
        per_schedule[r[0]] = per_schedule.get(r[0], 0) + 1
    duplicates = sum(n - 1 for n in per_schedule.values()) + result["duplicate_runs"]
    statuses = {}
    for r in rows:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    return {
        "backups": len(rows),
        "schedules": len(per_schedule),
        "duplicates": duplicates,
        "statuses": statuses,
        "p50": percentile(late, 50),
        "p99": percentile(late, 99),
        "max": max(late) if late else float("nan"),
        "min": min(late) if late else float("nan"),
        "workers_used": len({r[3] for r in rows}),
        "exit_codes": codes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schedules", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 8])
    parser.add_argument("--pass-schedules", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=50)
    parser.add_argument(
        "--pg-url", default=None, help="postgres://user:pw@host:port/postgres (admin connection)"
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument("--inner", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.inner:
        mode, root, src, *rest = args.inner
        fn = {"setup_latency": inner_setup_latency, "collect": inner_collect, "pass_cost": inner_pass_cost}[
            mode
        ]
        typed = [float(x) if "." in x else int(x) for x in rest]
        print(json.dumps(fn(Path(root), Path(src), *typed)))
        return

    pg_url = args.pg_url
    if not pg_url and os.environ.get("BM_TEST_PG_HOST"):
        e = os.environ
        pg_url = (
            f"postgres://{e['BM_TEST_PG_USER']}:{e['BM_TEST_PG_PASSWORD']}@{e['BM_TEST_PG_HOST']}:"
            f"{e['BM_TEST_PG_PORT']}/postgres"
        )
    kinds = ["sqlite"] + (["postgresql"] if pg_url else [])
    if args.only:
        kinds = [k for k in kinds if k == args.only]
    if not pg_url:
        print("(no PostgreSQL server given: --pg-url or BM_TEST_PG_*; SQLite only)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")

    for kind in kinds:
        for concurrency in args.concurrency:
            work = Path(tempfile.mkdtemp(prefix=f"bm-bench-{kind}-"))
            site = Site(kind, pg_url, work)
            try:
                r = latency(site, args.schedules, args.workers, concurrency)
            finally:
                site.drop()
                shutil.rmtree(work, ignore_errors=True)
            print(
                f"[{kind:10}] {args.schedules} schedules due at once, {args.workers} workers x {concurrency} slots: "
                f"start latency p50 {r['p50']:.3f} s, p99 {r['p99']:.3f} s, max {r['max']:.3f} s; "
                f"backups {r['backups']} ({r['statuses']}), duplicates {r['duplicates']}, "
                f"workers used {r['workers_used']}, exit codes {r['exit_codes']}"
            )
        work = Path(tempfile.mkdtemp(prefix=f"bm-bench-pass-{kind}-"))
        site = Site(kind, pg_url, work)
        try:
            p = in_site(site, "pass_cost", str(args.pass_schedules), str(args.passes))
        finally:
            site.drop()
            shutil.rmtree(work, ignore_errors=True)
        print(
            f"[{kind:10}] one scheduling pass, {p['enabled']} enabled schedules, none due: "
            f"p50 {p['idle_p50']:.2f} ms, p99 {p['idle_p99']:.2f} ms, max {p['idle_max']:.2f} ms "
            f"(with the worker heartbeat write: p50 {p['beat_p50']:.2f} ms); "
            f"claiming 10 due among them: {p['claim10_ms']:.1f} ms ({p['claimed']} claimed)"
        )


if __name__ == "__main__":
    main()
