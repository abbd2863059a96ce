"""Load bench (issue 11): 50 clients against bin/run's server, idle and while a 1 GB backup runs.

    bash -c 'set -euo pipefail; source bin/lib/servers.sh; bm_make_tmp; trap bm_stop_servers EXIT;
             bm_start_postgres; .venv/bin/python bench/bench_load.py'
    .venv/bin/python bench/bench_load.py --pg-url postgres://u:pw@host:port/postgres
        [--clients 50] [--seconds 60] [--warmup 10] [--big-mb 1024] [--databases 500] [--backups 100000]

What it does, all on this machine:
1. Creates a throwaway PostgreSQL metadata database, migrates it and seeds the catalogue
   (`seed_catalogue`: 500 databases, 100 000 backups), a user who is owner of every group
   (signed in through a real session), a small SQLite database with one real backup on disk
   (the download) and a SQLite database of --big-mb MB (the busy phase's backup).
2. Starts `bin/run` exactly as a user does (gunicorn with deploy/gunicorn.conf.py, DEBUG off,
   and the worker) on a free port.
3. Idle phase (after --warmup seconds of the same load, not counted): --clients concurrent
   keep-alive clients, each looping over the dashboard, the
   backups page, the API's backup list and the download, for --seconds.
4. Busy phase: queues a backup of the big database and runs the same load while the worker
   dumps, compresses and writes it (until it finishes or --seconds pass).
5. Prints requests, errors and p50/p95/p99 per request and phase, the busy/idle ratio of the
   pages' p95 (target ≤ 2), the load average, and exits 1 on any error or a failed backup.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_catalogue import pg_admin_url  # noqa: E402 - the same server options as bench_catalogue


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def site_env(database_url: str, work: Path, port: int) -> dict:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BM_", "DATABASE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="backupmanager.settings",
        DATABASE_URL=database_url,
        SECRET_KEY="bench-secret-key-0123456789abcdef-0123456789abcdef",
        BM_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        BM_DATA_DIR=str(work / "data"),
        BM_ALLOWED_ROOTS=str(work / "backups"),
        BM_SQLITE_ROOTS=str(work / "sqlite"),
        BM_BIND=f"127.0.0.1:{port}",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        BM_LOG_LEVEL="WARNING",
    )
    return env


def make_sqlite(path: Path, megabytes: int) -> None:
    """A SQLite file of about `megabytes` MB: text rows that compress about 3:1, like real data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, payload TEXT)")
    rng = random.Random(7)
    words = [f"{w}{i}" for i, w in enumerate(["order", "user", "cart", "ship", "pay", "mail"] * 200)]
    row = 1000
    rows = megabytes * 1024 * 1024 // (row + 40)
    batch = 2000
    for start in range(0, rows, batch):
        chunk = []
        for _ in range(min(batch, rows - start)):
            text = " ".join(rng.choice(words) for _ in range(row // 8))
            chunk.append((rng.choice(words), text[:row]))
        db.executemany("INSERT INTO events (kind, payload) VALUES (?, ?)", chunk)
        db.commit()
    db.close()


# --- inside the site's Django (subprocesses with the site's environment) -------------------


def django_setup() -> None:
    import django

    django.setup()


def inner_prepare(args) -> dict:
    """Seed, make the user and session, the two SQLite databases, and the small one's backup."""
    django_setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection

    from apps.accounts.models import Membership
    from apps.backups.models import Backup
    from apps.backups.runner import run_backup
    from apps.backups.seed import seed_catalogue
    from apps.backups.services import queue_manual_backup
    from apps.databases.models import Database
    from apps.destinations.models import Destination
    from apps.groups import locations
    from apps.groups.models import Group

    seed_catalogue(args.databases, args.backups)
    user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-pw-0123456789!")
    Membership.objects.bulk_create(
        [Membership(user=user, group=g, role=Membership.Role.OWNER) for g in Group.objects.all()]
    )
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()

    group = Group.objects.order_by("id").first()
    sqlite_dir = Path(locations.folders(group.pk, locations.SQLITE, create=True)[0])
    backup_dir = Path(locations.folders(group.pk, locations.BACKUPS, create=True)[0])
    made = {}
    for name, megabytes in (("bench-small", 2), ("bench-big", args.big_mb)):
        path = sqlite_dir / f"{name}.sqlite3"
        make_sqlite(path, megabytes)
        db = Database.objects.create(group=group, name=name, engine="sqlite", database_name=str(path))
        folder = backup_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        Destination.objects.create(database=db, name="local", kind="local", path=str(folder))
        made[name] = db
    small, _ = queue_manual_backup(made["bench-small"], user)
    small = run_backup(small)
    if small.status != Backup.Status.COMPLETED:
        raise SystemExit(f"the small backup failed: {small.error}")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")  # what autovacuum does to a table this size soon after
    return {
        "session": session.session_key,
        "small_backup": small.pk,
        "big_database": made["bench-big"].pk,
        "user": user.pk,
        "big_bytes": Path(made["bench-big"].database_name).stat().st_size,
    }


def inner_queue(args) -> dict:
    django_setup()
    from django.contrib.auth import get_user_model

    from apps.backups.services import queue_manual_backup
    from apps.databases.models import Database

    backup, _ = queue_manual_backup(
        Database.objects.get(pk=args.queue), get_user_model().objects.get(username="bench")
    )
    return {"backup": backup.pk}


def backup_state(url: str, backup: int) -> dict:
    """The backup's row, read straight from the metadata database (no Django start-up per poll)."""
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT status, size_bytes, error, EXTRACT(EPOCH FROM finished_at - started_at) "
            "FROM backups_backup WHERE id = %s",
            [backup],
        )
        status, size, error, seconds = cur.fetchone()
    conn.close()
    return {"status": status, "size": size, "error": error, "duration": seconds and round(float(seconds), 1)}


def run_inner(env: dict, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *extra], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(extra)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the load ----------------------------------------------------------------------------------


@dataclass
class Stats:
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, seconds: float, error: str = "") -> None:
        with self.lock:
            if error:
                self.errors.setdefault(name, []).append(error)
            else:
                self.times.setdefault(name, []).append(seconds)


def client_loop(port: int, cookie: str, paths: list[tuple[str, str]], offset: int, stop, stats) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    i = offset
    while not stop.is_set():
        name, path = paths[i % len(paths)]
        i += 1
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
            response = conn.getresponse()
            while response.read(256 * 1024):
                pass
            if response.status != 200:
                stats.add(name, 0, f"HTTP {response.status}")
            else:
                stats.add(name, time.perf_counter() - started)
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        except (OSError, http.client.HTTPException) as exc:
            stats.add(name, 0, f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.close()


def run_load(port, cookie, paths, clients: int, seconds: float, until=None) -> tuple[Stats, float]:
    stats, stop = Stats(), threading.Event()
    threads = [
        threading.Thread(target=client_loop, args=(port, cookie, paths, n, stop, stats), daemon=True)
        for n in range(clients)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    while time.monotonic() - started < seconds and not (until and until()):
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(90)
    return stats, time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000 if ordered else 0.0


def table(title: str, stats: Stats, elapsed: float) -> None:
    total = sum(len(v) for v in stats.times.values())
    print(f"\n{title} ({elapsed:.0f} s, {total / elapsed:.1f} requests/s)")
    print("| request | n | errors | p50 ms | p95 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in sorted(set(stats.times) | set(stats.errors)):
        xs = stats.times.get(name, [])
        print(
            f"| {name} | {len(xs)} | {len(stats.errors.get(name, []))} | {percentile(xs, 0.5):.0f} "
            f"| {percentile(xs, 0.95):.0f} | {percentile(xs, 0.99):.0f} |"
        )


def wait_healthy(port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("bin/run exited before it served /health")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("bin/run did not serve /health in time")


def run_outer(args) -> int:
    import psycopg2

    admin = pg_admin_url(args.pg_url)
    name = f"bm_bench_load_{secrets.token_hex(4)}"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    server = None
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="bm-bench-load-") as tmp:
            work = Path(tmp)
            port = free_port()
            env = site_env(urlunsplit(urlsplit(admin)._replace(path=f"/{name}")), work, port)
            # bin/run migrates and collects the static files itself; the seed needs the tables first.
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True
            )
            t = time.monotonic()
            made = run_inner(env, "--prepare", *sys.argv[1:])
            print(
                f"seeded {args.databases} databases, {args.backups} backups, a {made['big_bytes'] >> 20} MB "
                f"SQLite database, in {time.monotonic() - t:.0f} s"
            )
            server = subprocess.Popen(
                [str(REPO / "bin/run")],
                cwd=REPO,
                env=env,
                stdout=open(work / "run.log", "w"),  # noqa: SIM115 - closed with the process
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            wait_healthy(port, server)
            cookie = f"sessionid={made['session']}"
            paths = [
                ("GET / (dashboard)", "/"),
                ("GET /api/backups/?limit=50", "/api/backups/?limit=50"),
                ("GET download (2 MB backup)", f"/backups/{made['small_backup']}/download/"),
            ]
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            probe.request("GET", "/backups/", headers={"Cookie": cookie})
            if probe.getresponse().status == 200:
                paths.insert(1, ("GET /backups/ (page)", "/backups/"))
            probe.close()
            # Warm-up, not counted: every gunicorn process imports and connects on its first requests.
            run_load(port, cookie, paths, args.clients, args.warmup)
            print(f"bin/run on 127.0.0.1:{port}; load average before: {os.getloadavg()}")
            idle, idle_s = run_load(port, cookie, paths, args.clients, args.seconds)
            table(f"Idle: {args.clients} clients", idle, idle_s)

            backup = run_inner(env, "--queue", str(made["big_database"]))["backup"]
            deadline = time.monotonic() + 60
            while backup_state(env["DATABASE_URL"], backup)["status"] == "pending":
                if time.monotonic() > deadline:
                    raise SystemExit("the worker did not start the big backup within 60 s")
                time.sleep(0.5)
            state = {"status": "in_progress"}

            def finished() -> bool:
                state.update(backup_state(env["DATABASE_URL"], backup))
                return state["status"] not in ("pending", "in_progress")

            watcher_stop = threading.Event()
            done_flag = threading.Event()

            def watch() -> None:
                while not watcher_stop.is_set():
                    if finished():
                        done_flag.set()
                        return
                    time.sleep(1)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            busy, busy_s = run_load(port, cookie, paths, args.clients, args.seconds, until=done_flag.is_set)
            watcher_stop.set()
            watcher.join(30)
            table(f"While the {made['big_bytes'] >> 20} MB backup runs: {args.clients} clients", busy, busy_s)
            if not done_flag.is_set():
                while not finished():
                    time.sleep(1)
            print(
                f"\nbig backup #{backup}: {state['status']}, {state.get('size')} bytes stored, "
                f"{state.get('duration')} s{' — ' + state['error'] if state.get('error') else ''}"
            )
            print(
                "\n| page p95 | idle ms | busy ms | busy / idle | target |\n| --- | ---: | ---: | ---: | --- |"
            )
            for label, _ in paths:
                if "download" in label:
                    continue
                a, b = (
                    percentile(idle.times.get(label, []), 0.95),
                    percentile(busy.times.get(label, []), 0.95),
                )
                ratio = b / a if a else float("inf")
                print(
                    f"| {label} | {a:.0f} | {b:.0f} | {ratio:.2f} | ≤ 2 {'ok' if ratio <= 2 else '**missed**'} |"
                )
            errors = sum(len(v) for s in (idle, busy) for v in s.errors.values())
            print(f"\nerrors: {errors}; load average after: {os.getloadavg()}")
            for s in (idle, busy):
                for label, found in s.errors.items():
                    print(f"  {label}: {found[:3]}")
            failed = errors > 0 or state["status"] != "completed"
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid()",
                [name],
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10, help="seconds of load not counted, first")
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--databases", type=int, default=500)
    parser.add_argument("--backups", type=int, default=100_000)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--queue", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        print(json.dumps(inner_prepare(args)))
    elif args.queue is not None:
        print(json.dumps(inner_queue(args)))
    else:
        sys.exit(run_outer(args))


if __name__ == "__main__":
    main()
