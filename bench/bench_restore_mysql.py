#!/usr/bin/env python3
"""Benchmark: a one-pass, all-or-nothing MySQL/MariaDB restore against raw `mariadb < dump.sql`.

Run by hand, not by the test suite:

    .venv/bin/python bench/bench_restore_mysql.py --size 300 --repeat 2

It uses the MariaDB server named by BM_TEST_MYSQL_HOST/PORT/USER/PASSWORD when
set (bin/test's), otherwise it starts a private one with bin/lib/servers.sh
(bm_start_mariadb, removed at exit). It fills a database with --size MB of rows
(random hex text and bytes), then per repeat measures, on an idle server:

- raw restore:       `mariadb-dump` of it to a file once, then `mariadb --binary-mode NEWDB < file`
                     into an empty database (the baseline, the tool's wall time);
- bm one pass:       run_restore() of a BackupManager backup of the same database (zstd, one local
                     copy) into an empty database: the copy read once, hashed as it streams, loaded
                     into a scratch database, then one RENAME TABLE into the target;
- bm over old data:  the same into a database already holding the previous restore (the old tables
                     are renamed away and dropped after the swap);
- bm two passes:     the same with the engine's atomic_restore off (what MySQL did before: a
                     verification pass over the whole copy, then the restore pass).

BackupManager's times are those of the run_restore() call (Django start-up excluded); every restored
database is compared with the source (row count and checksum of the table).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# -- the server ---------------------------------------------------------------------------


def start_mariadb() -> tuple[dict[str, str], subprocess.Popen | None]:
    """The server's settings, and the helper process that owns a private server (None when given)."""
    keys = ("HOST", "PORT", "USER", "PASSWORD")
    if all(os.environ.get(f"BM_TEST_MYSQL_{k}") for k in keys):
        return {k.lower(): os.environ[f"BM_TEST_MYSQL_{k}"] for k in keys}, None
    script = (
        "set -euo pipefail; source bin/lib/servers.sh; trap bm_stop_servers EXIT; bm_make_tmp; bm_start_mariadb; "
        'printf "%s %s %s %s\\n" "$BM_TEST_MYSQL_HOST" "$BM_TEST_MYSQL_PORT" "$BM_TEST_MYSQL_USER" '
        '"$BM_TEST_MYSQL_PASSWORD"; read -r _'
    )
    proc = subprocess.Popen(
        ["bash", "-c", script], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline().split()
    if len(line) != 4:
        raise SystemExit("could not start a private MariaDB (bin/lib/servers.sh)")
    return dict(zip(("host", "port", "user", "password"), line, strict=True)), proc


def connect(server: dict[str, str], db: str | None = None):
    import MySQLdb

    return MySQLdb.connect(
        host=server["host"],
        port=int(server["port"]),
        user=server["user"],
        password=server["password"],
        database=db or "",
        charset="utf8mb4",
        autocommit=True,
    )


def sql(server: dict[str, str], statement: str, db: str | None = None) -> list[tuple]:
    conn = connect(server, db)
    try:
        cur = conn.cursor()
        cur.execute(statement)
        return list(cur.fetchall() or ())
    finally:
        conn.close()


def build(server: dict[str, str], name: str, size_mb: int) -> None:
    sql(server, f"DROP DATABASE IF EXISTS `{name}`")
    sql(server, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    sql(
        server,
        "CREATE TABLE t (id INT PRIMARY KEY, k CHAR(32) NOT NULL, note TEXT, data BLOB, INDEX (k)) ENGINE=InnoDB",
        name,
    )
    rows = size_mb * 500  # ~2 KB of dump per row (hex text and hex-dumped bytes)
    step = 20_000
    for start in range(1, rows + 1, step):
        end = min(rows, start + step - 1)
        sql(
            server,
            "INSERT INTO t SELECT seq, MD5(seq), HEX(RANDOM_BYTES(300)), RANDOM_BYTES(400) "
            f"FROM seq_{start}_to_{end}",
            name,
        )


def digest(server: dict[str, str], db: str) -> tuple:
    return tuple(sql(server, "SELECT count(*), SUM(CRC32(CONCAT(id, k, note, HEX(data)))) FROM t", db)[0])


def settle(server: dict[str, str]) -> None:
    sql(server, "FLUSH TABLES")
    os.sync()
    time.sleep(1)


# -- the run ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=300, help="MB of rows to generate (default 300)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bm-bench-mysql-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="backupmanager.settings",
        BM_DATA_DIR=str(tmp / "meta"),
        BM_ALLOWED_ROOTS=str(tmp / "dest"),
        SECRET_KEY="bench-secret-key-" + "x" * 40,
        DEBUG="false",
        BM_LOG_LEVEL="WARNING",
        BM_GENERATE_KEYS="1",
    )
    os.environ.pop("DATABASE_URL", None)
    server, owner = start_mariadb()
    try:
        run(args, server, tmp)
    finally:
        if owner is not None:
            owner.stdin.close()
            owner.wait(60)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def run(args, server: dict[str, str], tmp: Path) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.backups.models import Backup, Restore
    from apps.backups.restore import run_restore
    from apps.backups.runner import run_backup
    from apps.databases.models import Database
    from apps.destinations.models import Destination
    from apps.engines.mysql import MySQLEngine, defaults_file
    from apps.engines.process import find_tool
    from apps.groups import locations
    from apps.groups.models import Group

    source = "bench_src"
    print(f"building {args.size} MB of rows in {source} …", flush=True)
    build(server, source, args.size)
    expected = digest(server, source)
    load = os.getloadavg()

    group = Group.objects.create(name="bench")
    fields = {
        "group": group,
        "engine": "mysql",
        "host": server["host"],
        "port": int(server["port"]),
        "username": server["user"],
        "password": server["password"],
    }
    database = Database.objects.create(name="source", database_name=source, **fields)
    folder = Path(locations.folders(group.pk, locations.BACKUPS, create=True)[0]) / "local"
    folder.mkdir(parents=True, exist_ok=True)
    Destination.objects.create(database=database, name="local", path=str(folder))
    backup = run_backup(Backup.objects.create(database=database))
    assert backup.status == "completed", backup.error

    engine = MySQLEngine()
    conn = database.connection_info()
    workdir = tmp / "work"
    workdir.mkdir(mode=0o700)
    dump = tmp / "raw.sql"
    defaults = defaults_file(conn, workdir)
    with open(dump, "wb") as out:
        subprocess.run(
            engine.dump_command(conn, defaults, find_tool(["mariadb-dump", "mysqldump"], hint="")),
            stdout=out,
            check=True,
        )
    client = find_tool(["mariadb", "mysql"], hint="")
    print(
        f"dump {dump.stat().st_size / 1e6:.0f} MB raw, backup {backup.size_bytes / 1e6:.0f} MB (zstd); "
        f"load before {load[0]:.1f}",
        flush=True,
    )

    runs: dict[str, list[float]] = {
        "raw restore": [],
        "bm one pass": [],
        "bm over old data": [],
        "bm two passes": [],
    }
    for i in range(args.repeat):
        raw_db = f"bench_raw_{i}"
        sql(server, f"DROP DATABASE IF EXISTS `{raw_db}`")
        sql(server, f"CREATE DATABASE `{raw_db}` CHARACTER SET utf8mb4")
        settle(server)
        started = time.perf_counter()
        with open(dump, "rb") as fh:
            subprocess.run(
                [client, f"--defaults-extra-file={defaults}", "--binary-mode", "--batch", "--", raw_db],
                stdin=fh,
                check=True,
            )
        runs["raw restore"].append(time.perf_counter() - started)
        assert digest(server, raw_db) == expected
        sql(server, f"DROP DATABASE `{raw_db}`")

        target_db = f"bench_bm_{i}"
        sql(server, f"DROP DATABASE IF EXISTS `{target_db}`")
        sql(server, f"CREATE DATABASE `{target_db}` CHARACTER SET utf8mb4")
        target = Database.objects.create(name=target_db, database_name=target_db, **fields)
        for label, atomic in (("bm one pass", True), ("bm over old data", True), ("bm two passes", False)):
            MySQLEngine.atomic_restore = atomic
            settle(server)
            started = time.perf_counter()
            restore = run_restore(Restore.objects.create(backup=backup, target_database=target))
            runs[label].append(time.perf_counter() - started)
            assert restore.status == "completed", restore.error
            assert digest(server, target_db) == expected, label
            print(f"   {label}: {runs[label][-1]:.2f} s", flush=True)
        MySQLEngine.atomic_restore = True
        sql(server, f"DROP DATABASE `{target_db}`")
        print(f"   raw mariadb < dump: {runs['raw restore'][-1]:.2f} s", flush=True)
    os.unlink(defaults)

    raw = min(runs["raw restore"])
    print(f"\nMariaDB restore, {dump.stat().st_size / 1e6:.0f} MB dump, best of {args.repeat}:")
    print(f"  {'run':<18} {'seconds':>8} {'× raw':>7}   all runs")
    for label, times in runs.items():
        best = min(times)
        print(f"  {label:<18} {best:8.2f} {best / raw:7.2f}   {', '.join(f'{t:.2f}' for t in times)}")
    print(f"  load average after: {os.getloadavg()[0]:.1f} (2 CPUs shared)")
    sql(server, f"DROP DATABASE IF EXISTS `{source}`")


if __name__ == "__main__":
    main()
