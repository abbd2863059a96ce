#!/usr/bin/env python
"""Benchmark GET /metrics on a large catalogue (not a test).

Seeds, with bulk_create, N databases (default 500) in 25 groups with two destinations and a
schedule each, M backups (default 100 000; ~90 % completed, 5 % partial, 4 % failed, a few
pending) with one copy per destination, plus verifications, restores, notification deliveries
and worker heartbeats; then scrapes /metrics through Django's full request stack (bearer token)
and prints, per metadata database, the scrape time (best / median / worst of --scrapes), the
number of SQL queries of one scrape, the size of the text and the number of samples, beside a
baseline request (/health) from the same run.

Runs on SQLite metadata and, when a PostgreSQL server is given (--pg-url
postgres://user:pw@host:port/postgres, or the BM_TEST_PG_* variables bin/test exports), on a
fresh PostgreSQL database created and dropped here. To get a private PostgreSQL 15 as bin/test
does:

    bash -c 'set -euo pipefail; source bin/lib/servers.sh; bm_make_tmp; trap bm_stop_servers EXIT;
             bm_start_postgres; .venv/bin/python bench/bench_metrics.py'

    .venv/bin/python bench/bench_metrics.py [--databases 500] [--backups 100000] [--scrapes 5]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TOKEN = "bench-metrics-token"


def site_env(database_url: str, data_dir: Path) -> dict:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BM_", "DATABASE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="backupmanager.settings",
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY="bench-secret-key-0123456789abcdef-0123456789abcdef",
        BM_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        BM_DATA_DIR=str(data_dir),
        BM_METRICS_TOKEN=TOKEN,
        BM_SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="testserver",
        BM_LOG_LEVEL="WARNING",
    )
    return env


class Site:
    """A migrated metadata database; a PostgreSQL one is created here and dropped by drop()."""

    def __init__(self, kind: str, pg_admin_url: str | None, workdir: Path):
        self.pg_admin_url = pg_admin_url
        self.pg_name: str | None = None
        if kind == "sqlite":
            url = f"sqlite:///{workdir / 'meta.sqlite3'}"
        else:
            import psycopg2

            self.pg_name = f"bm_bench_metrics_{secrets.token_hex(4)}"
            conn = psycopg2.connect(pg_admin_url)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.pg_name}"')
            conn.close()
            url = urlunsplit(urlsplit(pg_admin_url)._replace(path=f"/{self.pg_name}"))
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.env = site_env(url, workdir / "data")
        out = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(out.stderr)

    def run(self, *args: str) -> dict:
        out = subprocess.run(
            [sys.executable, __file__, "--inner", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(f"inner run failed:\n{out.stdout}\n{out.stderr}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def drop(self) -> None:
        if not self.pg_name:
            return
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


# --- inside the site's Django -------------------------------------------------------------


def seed(n_databases: int, n_backups: int) -> float:
    """Fill the catalogue with bulk inserts; return the seconds it took."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.backups.models import Backup, BackupCopy, Drill, Restore, Verification
    from apps.databases.models import Database
    from apps.destinations.models import Destination
    from apps.groups.models import Group
    from apps.notifications.models import NotificationChannel, NotificationLog
    from apps.schedules.models import Schedule, WorkerHeartbeat

    t0 = time.perf_counter()
    now = timezone.now()
    batch = 5000
    groups = Group.objects.bulk_create([Group(name=f"team-{i}") for i in range(25)])
    databases = Database.objects.bulk_create(
        [
            Database(
                group=groups[i % len(groups)],
                name=f"db-{i}",
                engine="postgresql",
                host="db.internal",
                port=5432,
                database_name=f"app_{i}",
                username="app",
            )
            for i in range(n_databases)
        ],
        batch_size=batch,
    )
    destinations = Destination.objects.bulk_create(
        [
            Destination(database=db, name=name, kind=kind, path=path, bucket=bucket)
            for db in databases
            for name, kind, path, bucket in (
                ("local", "local", f"/srv/backups/{db.name}", ""),
                ("bucket", "s3", "", "bm-offsite"),
            )
        ],
        batch_size=batch,
    )
    by_db: dict[int, list] = {}
    for dest in destinations:
        by_db.setdefault(dest.database_id, []).append(dest)
    cron = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 0"}
    Schedule.objects.bulk_create(
        [
            Schedule(
                database=db,
                name="main",
                interval_value=interval,
                cron_expression=cron[interval],
                timezone=("UTC", "Europe/Rome", "America/New_York")[i % 3],
                next_run_at=now + timedelta(hours=1),
            )
            for i, db in enumerate(databases)
            for interval in [("hourly", "daily", "weekly")[i % 3]]
        ],
        batch_size=batch,
    )
    per_db = max(1, n_backups // max(1, n_databases))
    made = 0
    verifications, restores, drills = [], [], []
    while made < n_backups:
        rows = []
        for k in range(min(batch, n_backups - made)):
            j = made + k
            db = databases[j % n_databases]
            age = timedelta(hours=(j // n_databases) * 3 + 1)
            roll = (j // n_databases * 37 + j) % 100  # statuses vary within each database
            status = (
                "pending"
                if roll == 99 and j // n_databases == 0
                else "failed"
                if roll >= 96
                else "partial"
                if roll >= 91
                else "completed"
            )
            started = now - age
            rows.append(
                Backup(
                    database=db,
                    trigger="scheduled",
                    status=status,
                    created_at=started,
                    started_at=None if status == "pending" else started,
                    finished_at=None if status == "pending" else started + timedelta(seconds=30 + roll),
                    size_bytes=None if status in ("pending", "failed") else 10_000_000 + j,
                    checksum_sha256="0" * 64,
                    file_name=f"{db.name}_{j}.dump.zst",
                )
            )
        backups = Backup.objects.bulk_create(rows, batch_size=batch)
        copies = []
        for b in backups:
            if b.status in ("pending", "failed"):
                continue
            local, bucket = by_db[b.database_id]
            copies.append(
                BackupCopy(backup=b, destination=local, destination_name="local", status="completed")
            )
            copies.append(
                BackupCopy(
                    backup=b,
                    destination=bucket,
                    destination_name="bucket",
                    status="failed" if b.status == "partial" else "completed",
                    error="access denied" if b.status == "partial" else "",
                )
            )
        BackupCopy.objects.bulk_create(copies, batch_size=batch)
        for b in backups[:: max(1, per_db // 2)]:
            if b.status == "completed":
                verifications.append(
                    Verification(backup=b, status="completed", ok=b.pk % 10 != 0, created_at=b.created_at)
                )
        for b in backups[:: per_db * 10]:
            if b.status == "completed":
                restores.append(
                    Restore(backup=b, target_database_id=b.database_id, status="completed", created_at=now)
                )
                drills.append(
                    Drill(
                        backup=b,
                        target_database_id=b.database_id,
                        status="passed" if b.pk % 7 else "failed",
                        finished_at=b.finished_at,
                    )
                )
        made += len(rows)
    Verification.objects.bulk_create(verifications, batch_size=batch)
    Restore.objects.bulk_create(restores, batch_size=batch)
    Drill.objects.bulk_create(drills, batch_size=batch)
    channels = NotificationChannel.objects.bulk_create(
        [NotificationChannel(group=g, kind="webhook", target="https://hooks.example.com/x") for g in groups]
    )
    NotificationLog.objects.bulk_create(
        [
            NotificationLog(
                channel=channels[i % len(channels)], event="failed", status=("sent", "failed")[i % 5 == 0]
            )
            for i in range(2000)
        ],
        batch_size=batch,
    )
    WorkerHeartbeat.objects.bulk_create(
        [WorkerHeartbeat(worker_id=f"w-{i}", last_seen_at=now - timedelta(seconds=i)) for i in range(3)]
    )
    return time.perf_counter() - t0


def inner(n_databases: int, n_backups: int, scrapes: int) -> dict:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from prometheus_client.parser import text_string_to_metric_families

    from apps.backups.models import Backup, BackupCopy

    seed_seconds = seed(n_databases, n_backups)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}

    def timed(path: str, **extra) -> tuple[float, int, bytes]:
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            response = client.get(path, **extra)
            elapsed = time.perf_counter() - t
        assert response.status_code in (200, 503), (path, response.status_code)
        return elapsed, len(ctx.captured_queries), response.content

    timed("/metrics", **auth)  # warm-up: imports, connection, caches
    runs = [timed("/metrics", **auth) for _ in range(scrapes)]
    health = [timed("/health")[0] for _ in range(scrapes)]
    times = [r[0] for r in runs]
    body = runs[-1][2]
    samples = sum(len(f.samples) for f in text_string_to_metric_families(body.decode()))
    return {
        "vendor": connection.vendor,
        "databases": n_databases,
        "backups": Backup.objects.count(),
        "copies": BackupCopy.objects.count(),
        "seed_s": seed_seconds,
        "best_ms": min(times) * 1000,
        "median_ms": statistics.median(times) * 1000,
        "worst_ms": max(times) * 1000,
        "queries": sorted({r[1] for r in runs}),
        "kib": len(body) / 1024,
        "samples": samples,
        "health_ms": statistics.median(health) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=500)
    parser.add_argument("--backups", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args.databases, args.backups, args.scrapes)))
        return
    pg_url = args.pg_url
    if not pg_url and os.environ.get("BM_TEST_PG_HOST"):
        e = os.environ
        pg_url = (
            f"postgres://{e['BM_TEST_PG_USER']}:{e['BM_TEST_PG_PASSWORD']}@{e['BM_TEST_PG_HOST']}:"
            f"{e['BM_TEST_PG_PORT']}/postgres"
        )
    kinds = ["sqlite"] + (["postgresql"] if pg_url else [])
    if not pg_url:
        print("(no PostgreSQL server given: --pg-url or BM_TEST_PG_*; SQLite only)")
    results = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="bm-bench-metrics-") as work:
            site = Site(kind, pg_url, Path(work))
            try:
                results.append(
                    site.run(
                        *("--databases", str(args.databases), "--backups", str(args.backups)),
                        *("--scrapes", str(args.scrapes)),
                    )
                )
            finally:
                site.drop()
    header = (
        f"{'metadata':>10} | {'dbs':>5} | {'backups':>7} | {'copies':>7} | {'seed s':>6} | "
        f"{'scrape best/median/worst ms':>27} | {'queries':>7} | {'KiB':>6} | {'samples':>7} | {'/health ms':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        scrape = f"{r['best_ms']:.0f} / {r['median_ms']:.0f} / {r['worst_ms']:.0f}"
        queries = ",".join(str(q) for q in r["queries"])
        print(
            f"{r['vendor']:>10} | {r['databases']:>5} | {r['backups']:>7} | {r['copies']:>7} | "
            f"{r['seed_s']:>6.1f} | {scrape:>27} | {queries:>7} | {r['kib']:>6.0f} | {r['samples']:>7} | "
            f"{r['health_ms']:>10.1f}"
        )


if __name__ == "__main__":
    main()
