#!/usr/bin/env python
"""Benchmark the API lists, the pages and the worker's scheduling pass on a large catalogue (not a test).

Seeds a fresh PostgreSQL metadata database with `manage.py seed_catalogue`'s logic
(apps.backups.seed: N databases, default 500, and M backups, default 100 000, over a year), then
measures, through Django's full request stack (test Client, a session of a member of every group),
p50/p95 of --requests requests (default 30) each of: the backup list with and without filters, the
database and schedule lists, the dashboard and its 30 s refresh fragment, the backups page (/backups/,
first and deepest page, filters), a database page, and the worker's scheduling pass
(claims.claim_due with nothing due, claims.next_due_at), beside /health as a baseline from the same
run. Prints the number of SQL queries of each, the load average, and the EXPLAIN of the backup list's
filter queries with the indexes they use; exits 1 when a list filter query uses no index.

Targets (issue 11): lists p95 <= 50 ms; dashboard and database page <= 200 ms; scheduling pass <= 50 ms.

It needs a PostgreSQL server (--pg-url postgres://user:pw@host:port/postgres, or the BM_TEST_PG_*
variables bin/test exports); a private PostgreSQL 15 as bin/test starts it:

    bash -c 'set -euo pipefail; source bin/lib/servers.sh; bm_make_tmp; trap bm_stop_servers EXIT;
             bm_start_postgres; .venv/bin/python bench/bench_catalogue.py'

    .venv/bin/python bench/bench_catalogue.py [--databases 500] [--backups 100000] [--requests 30]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGETS_MS = {"list": 50.0, "page": 200.0, "worker": 50.0}


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
        BM_SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="testserver",
        BM_LOG_LEVEL="WARNING",
    )
    return env


def pg_admin_url(given: str | None) -> str:
    if given:
        return given
    e = os.environ
    if not e.get("BM_TEST_PG_HOST"):
        raise SystemExit(
            "Give a PostgreSQL server: --pg-url or the BM_TEST_PG_* variables (see the docstring)."
        )
    return (
        f"postgres://{e['BM_TEST_PG_USER']}:{e['BM_TEST_PG_PASSWORD']}@{e['BM_TEST_PG_HOST']}:"
        f"{e['BM_TEST_PG_PORT']}/postgres"
    )


def run_outer(args) -> None:
    import psycopg2

    admin = pg_admin_url(args.pg_url)
    name = f"bm_bench_catalogue_{secrets.token_hex(4)}"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="bm-bench-catalogue-") as work:
            (Path(work) / "data").mkdir()
            url = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
            env = site_env(url, Path(work) / "data")
            # A production-like site (DEBUG off) serves pages with the hashed static files.
            for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
                done = subprocess.run(
                    [sys.executable, "manage.py", *command], cwd=REPO, env=env, capture_output=True, text=True
                )
                if done.returncode:
                    raise SystemExit(done.stderr)
            inner = subprocess.run(
                [sys.executable, __file__, "--inner", *sys.argv[1:]],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
            )
            if inner.returncode:
                raise SystemExit(f"inner run failed:\n{inner.stdout}\n{inner.stderr}")
            report(json.loads(inner.stdout.strip().splitlines()[-1]))
    finally:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid()",
                [name],
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


# --- inside the site's Django -------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def inner(args) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from apps.accounts.models import Membership
    from apps.backups.attention import troubled_backups
    from apps.backups.models import Acknowledgement, Backup, BackupCopy
    from apps.backups.seed import seed_catalogue
    from apps.databases.models import Database
    from apps.groups.models import Group
    from apps.schedules.worker import claims

    report = seed_catalogue(args.databases, args.backups)
    user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-pw-0123456789!")
    Membership.objects.bulk_create(
        [Membership(user=user, group=g, role=Membership.Role.OWNER) for g in Group.objects.all()]
    )
    with connection.cursor() as cur:
        # A year of backups is a vacuumed table (autovacuum runs after bulk inserts too, PostgreSQL
        # 13+): the visibility map lets counts read an index alone. A fresh bulk insert has none yet.
        cur.execute("VACUUM ANALYZE")
    database = Database.objects.order_by("id").first()
    client = Client()
    client.force_login(user)

    def request(path: str):
        def call() -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        return call

    now = timezone.now()
    # The dashboard's "Needs attention": the seed leaves ~5 % of the newest backups failed and
    # ~5 % partial; a few acknowledged ones show beside them.
    for backup in troubled_backups(user)[:5]:
        Acknowledgement.objects.create(backup=backup, acknowledged_by=user)

    def scheduling_pass() -> None:
        assert claims.claim_due(timezone.now(), "bench-worker", limit=4) == []
        claims.next_due_at(timezone.now())

    cases = [
        ("baseline", "GET /health", request("/health")),
        ("list", "GET /api/backups/?limit=50", request("/api/backups/?limit=50")),
        ("list", "GET /api/backups/?status=failed", request("/api/backups/?limit=50&status=failed")),
        (
            "list",
            "GET /api/backups/?database_id=",
            request(f"/api/backups/?limit=50&database_id={database.pk}"),
        ),
        (
            "list",
            "GET /api/backups/?database_id=&status=completed",
            request(f"/api/backups/?limit=50&database_id={database.pk}&status=completed"),
        ),
        ("list", "GET /api/databases/?limit=50", request("/api/databases/?limit=50")),
        ("list", "GET /api/schedules/?limit=50", request("/api/schedules/?limit=50")),
        ("page", "GET / (dashboard)", request("/")),
        ("page", "GET /dashboard/live/ (its 30 s refresh)", request("/dashboard/live/")),
        ("page", "GET /backups/ (page 1 of the backups page)", request("/backups/")),
        ("page", "GET /backups/?page=20 (the deepest page offered)", request("/backups/?page=20")),
        ("page", "GET /backups/?status=failed", request("/backups/?status=failed")),
        ("page", "GET /backups/?group=", request(f"/backups/?group={database.group_id}")),
        (
            "page",
            "GET /backups/?database=&since=",
            request(f"/backups/?database={database.pk}&since={(now - timedelta(days=90)).date()}"),
        ),
        ("page", "GET /databases/<id>/", request(f"/databases/{database.pk}/")),
        ("worker", "claim_due (nothing due) + next_due_at", scheduling_pass),
    ]
    load_before = os.getloadavg()
    rows = []
    for kind, label, call in cases:
        call()  # warm-up: imports, caches, the connection
        times = []
        with CaptureQueriesContext(connection) as ctx:
            call()
        queries = len(ctx.captured_queries)
        for _ in range(args.requests):
            t = time.perf_counter()
            call()
            times.append((time.perf_counter() - t) * 1000)
        rows.append(
            {
                "kind": kind,
                "label": label,
                "p50": statistics.median(times),
                "p95": percentile(times, 0.95),
                "queries": queries,
                "target": TARGETS_MS.get(kind),
            }
        )
    load_after = os.getloadavg()
    plans = explain_list_filters(client, database.pk)
    return {
        "vendor": connection.vendor,
        "server": connection.cursor().connection.server_version,
        "databases": Database.objects.count(),
        "backups": Backup.objects.count(),
        "copies": BackupCopy.objects.count(),
        "troubled": troubled_backups(user).count(),
        "seed_s": report.seconds,
        "requests": args.requests,
        "now": now.isoformat(),
        "load_before": load_before,
        "load_after": load_after,
        "rows": rows,
        "plans": plans,
    }


def explain_list_filters(client, database_id: int) -> list[dict]:
    """EXPLAIN the SQL of the backup list's page query for each filter; name the indexes of backups_backup used.

    The unfiltered list is explained too, for the record; only the filters must use an index.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    plans = []
    for label, query in (
        ("no filter", ""),
        ("status=failed", "status=failed"),
        ("database_id", f"database_id={database_id}"),
        ("database_id + status", f"database_id={database_id}&status=completed"),
    ):
        with CaptureQueriesContext(connection) as ctx:
            client.get(f"/api/backups/?limit=50&{query}")
        # The page's rows: the query on backups_backup with a LIMIT (the count has none).
        sql = next(
            q["sql"]
            for q in ctx.captured_queries
            if 'FROM "backups_backup"' in q["sql"] and "LIMIT" in q["sql"] and "COUNT(" not in q["sql"]
        )
        with connection.cursor() as cur:
            cur.execute(f"EXPLAIN {sql}")
            plan = "\n".join(r[0] for r in cur.fetchall())
        # The indexes the scan of backups_backup itself uses (a bitmap scan names its index below it).
        indexes = set(re.findall(r"Index (?:Only )?Scan(?: Backward)? using (\S+) on backups_backup\b", plan))
        if re.search(r"Bitmap Heap Scan on backups_backup\b", plan):
            indexes |= {i for i in re.findall(r"Bitmap Index Scan on (\S+)", plan) if i.startswith("backup")}
        indexes = sorted(indexes)
        plans.append({"filter": label, "sql": sql, "plan": plan, "indexes": indexes})
    return plans


def report(r: dict) -> None:
    print(
        f"{r['vendor']} {r['server']}: {r['databases']} databases, {r['backups']} backups, {r['copies']} copies "
        f"(seeded in {r['seed_s']:.1f} s); {r['requests']} requests each; "
        f"{r['troubled']} databases need attention (5 of them acknowledged)"
    )
    print(
        "load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}".format(
            *r["load_before"], *r["load_after"]
        )
    )
    print()
    print("| what | p50 ms | p95 ms | queries | target p95 | |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for row in r["rows"]:
        target = row["target"]
        verdict = "" if target is None else ("ok" if row["p95"] <= target else "MISSED")
        target_text = "baseline" if target is None else f"≤ {target:.0f}"
        print(
            f"| {row['label']} | {row['p50']:.1f} | {row['p95']:.1f} | {row['queries']} | {target_text} | {verdict} |"
        )
    print()
    missing = []
    for plan in r["plans"]:
        used = ", ".join(plan["indexes"]) or "NO INDEX"
        print(f"EXPLAIN backup list, {plan['filter']}: index of backups_backup used: {used}")
        print(plan["sql"])
        print(plan["plan"])
        print()
        if not plan["indexes"] and plan["filter"] != "no filter":
            missing.append(plan["filter"])
    if missing:
        print(f"List filters without an index: {', '.join(missing)}")
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=500)
    parser.add_argument("--backups", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args)))
        return
    run_outer(args)


if __name__ == "__main__":
    main()
