#!/usr/bin/env python3
"""Benchmark: BackupManager's PostgreSQL backup and restore against raw pg_dump / pg_restore.

Run by hand, not by the test suite:

    .venv/bin/python bench/bench_backup.py                 # 100 MB and 1 GB
    .venv/bin/python bench/bench_backup.py --sizes 100     # 100 MB only
    .venv/bin/python bench/bench_backup.py --repeat 3

It uses the PostgreSQL of bin/test when BM_TEST_PG_HOST/PORT/USER/PASSWORD
are set, otherwise it starts a private throwaway cluster (initdb + pg_ctl as
the postgres user, like bin/lib/servers.sh) and removes it afterwards.

For each size it builds a database from `pgbench -i` plus a table of random
hex text and random bytes (so the data compresses like real data, not 50×
like pgbench's filler), then measures in the same run:

- raw:  `pg_dump -Fc -f FILE` (pg_dump's default gzip), one file;
- bm×1: BackupManager's run_backup() to 1 local destination;
- bm×3: BackupManager's run_backup() to 3 local destinations;
- raw restore: `pg_restore -d NEWDB FILE` of the raw dump;
- bm restore: run_restore() of the bm×3 backup into a fresh database.

BackupManager runs in a child process (Django set up against a throwaway
SQLite metadata database), so its memory is measured on its own: peak RSS is
sampled every 20 ms from /proc/<pid>/smaps_rollup over the whole process
tree (the Python process plus pg_dump / pg_restore, summed; a child caught
between fork and exec is skipped, its pages are the parent's), as RSS (the
verdict) and PSS (lower: shared libraries are split among all their users on
the host), and the Python process's own getrusage maxrss is shown beside them. (getrusage(RUSAGE_CHILDREN) is printed per run
but not used: a child's maxrss counts the pages it shared with the 60 MB
parent between fork and exec, so it overstates pg_dump's ~12 MB.)
Times are the best of --repeat runs; BackupManager's time is that of the
run_backup()/run_restore() call (Django start-up excluded), raw times are
the tool's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BINDIR = Path(os.environ.get("BM_TEST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
PYTHON = sys.executable

TARGETS = {
    "bm×3 time / raw dump": 0.6,
    "restore / raw restore": 1.1,
    "peak RSS MB": 100,
}


# -- PostgreSQL server ------------------------------------------------------------------


class Server:
    """Connection settings of a PostgreSQL server, and the cluster we started (if any)."""

    def __init__(self, host: str, port: int, user: str, password: str, datadir: Path | None = None) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.datadir = datadir

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user, PGPASSWORD=self.password)
        return env

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(
            [tool("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
            env=self.env(),
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"psql failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def stop(self) -> None:
        if self.datadir is None:
            return
        as_postgres([str(PG_BINDIR / "pg_ctl"), "-D", str(self.datadir / "data"), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.datadir, ignore_errors=True)


def tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidate = PG_BINDIR / name
    if candidate.exists():
        return str(candidate)
    raise SystemExit(f"{name} not found")


def as_postgres(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: Path) -> Server:
    env = {k: os.environ.get(f"BM_TEST_PG_{k.upper()}") for k in ("host", "port", "user", "password")}
    if all(env.values()):
        print(f"using the PostgreSQL of bin/test on port {env['port']}")
        return Server(env["host"], int(env["port"]), env["user"], env["password"])
    base = Path(tempfile.mkdtemp(prefix="bm-bench-pg-", dir=tmp))
    password = os.urandom(12).hex()
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(pwfile, "postgres")
    base.chmod(0o700)
    as_postgres(
        [
            str(PG_BINDIR / "initdb"),
            "-D",
            str(base / "data"),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
    )
    pwfile.unlink()
    port = free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c shared_buffers=256MB -c max_wal_size=4GB"
    )
    as_postgres(
        [
            str(PG_BINDIR / "pg_ctl"),
            "-D",
            str(base / "data"),
            "-l",
            str(base / "server.log"),
            "-w",
            "-o",
            options,
            "start",
        ]
    )
    print(f"started a private PostgreSQL 15 on port {port}")
    return Server("127.0.0.1", port, "postgres", password, datadir=base)


# -- test data ------------------------------------------------------------------------


def build_database(server: Server, name: str, size_mb: int) -> int:
    """Create `name` at about size_mb MB: ~70 % pgbench, ~30 % random hex text and random bytes."""
    server.psql(f'DROP DATABASE IF EXISTS "{name}"')
    server.psql(f'CREATE DATABASE "{name}"')
    scale = max(1, round(size_mb * 0.7 / 15))
    subprocess.run(
        [tool("pgbench"), "-i", "-q", "-s", str(scale), name],
        env=server.env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Each row: 2 KiB of random hex text (compresses ~2×) and 1 KiB of random bytes (does not).
    rows = int(size_mb * 0.3 * 1024 * 1024 / 3300)
    server.psql(
        "CREATE TABLE noise (id bigint PRIMARY KEY, hex text NOT NULL, raw bytea NOT NULL);"
        "ALTER TABLE noise ALTER COLUMN hex SET STORAGE EXTERNAL, ALTER COLUMN raw SET STORAGE EXTERNAL;"
        f"INSERT INTO noise SELECT i,"
        " (SELECT string_agg(md5(random()::text || i || g), '') FROM generate_series(1, 64) g),"
        " (SELECT decode(string_agg(md5(random()::text || g || i), ''), 'hex') FROM generate_series(1, 64) g)"
        f" FROM generate_series(1, {rows}) i;",
        db=name,
    )
    server.psql("VACUUM ANALYZE", db=name)
    return int(server.psql(f"SELECT pg_database_size('{name}')", db=name))


# -- measuring ------------------------------------------------------------------------


def tree_memory_kb(root: int) -> tuple[int, int]:
    """(sum of VmRSS, sum of Pss) over a process and all its descendants, in kB.

    A child caught between fork() and exec() (still running the parent's
    executable) is skipped: its RSS is the parent's pages a second time. PSS
    splits shared pages (libraries) among every process on the host mapping
    them, so it reads lower than RSS; RSS is the number the targets use.
    """
    rss = pss = 0
    stack, seen = [root], set()
    try:
        root_exe = os.readlink(f"/proc/{root}/exe")
    except OSError:
        return 0, 0
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            if pid != root and os.readlink(f"/proc/{pid}/exe") == root_exe:
                continue  # forked but not yet exec'd: its pages are the parent's, counted already
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
            continue
    return rss, pss


def settle(server: Server) -> None:
    """Flush what the previous run left behind, so no run pays for its predecessor's writeback."""
    server.psql("CHECKPOINT")
    os.sync()


def measure(argv: list[str], env: dict[str, str] | None = None, server: Server | None = None) -> dict:
    """Run argv; return wall seconds, sampled peak tree RSS (MB) and its stdout (last line as JSON if any)."""
    if server is not None:
        settle(server)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = peak_pss = 0
    stop = threading.Event()

    def sample():
        nonlocal peak, peak_pss
        while not stop.is_set():
            rss, pss = tree_memory_kb(proc.pid)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {err.strip()[-2000:]}")
    result = {"wall": wall, "peak_rss_mb": peak / 1024, "peak_pss_mb": peak_pss / 1024}
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if lines:
        result.update(json.loads(lines[-1]))
    return result


def best(runs: list[dict]) -> dict:
    chosen = dict(min(runs, key=lambda r: r.get("seconds", r["wall"])))
    chosen["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    chosen["peak_pss_mb"] = max(r["peak_pss_mb"] for r in runs)
    if "self_rss_mb" in chosen:
        chosen["self_rss_mb"] = max(r["self_rss_mb"] for r in runs)
    return chosen


# -- the BackupManager side (runs in a child process) --------------------------------------


def child_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="backupmanager.settings",
        BM_DATA_DIR=str(tmp / "meta"),
        BM_ALLOWED_ROOTS=str(tmp / "dest"),
        SECRET_KEY="bench-secret-key-" + "x" * 40,
        DEBUG="false",
        BM_LOG_LEVEL="WARNING",
        BM_GENERATE_KEYS="1",  # settings refuse to start without BM_ENCRYPTION_KEYS otherwise
        PYTHONPATH=str(ROOT),
    )
    env.pop("DATABASE_URL", None)
    return env


def child_setup() -> None:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()


def child_main(args) -> None:
    import resource

    child_setup()
    from apps.backups.models import Backup, Restore
    from apps.backups.runner import run_backup, run_restore
    from apps.databases.models import Database
    from apps.destinations.models import Destination
    from apps.groups.models import Group

    group, _ = Group.objects.get_or_create(name="bench")
    conn = json.loads(os.environ["BM_BENCH_PG"])
    started = 0.0
    if args.child == "backup":
        database = Database.objects.create(
            group=group,
            name=f"{args.db}-{os.getpid()}",
            engine="postgresql",
            host=conn["host"],
            port=conn["port"],
            username=conn["user"],
            password=conn["password"],
            database_name=args.db,
            compression=args.compression,
        )
        for i in range(args.dests):
            folder = Path(args.out) / f"dest{i}"
            folder.mkdir(parents=True, exist_ok=True)
            Destination.objects.create(database=database, name=f"dest{i}", path=str(folder))
        backup = Backup.objects.create(database=database)
        started = time.perf_counter()
        backup = run_backup(backup)
        seconds = time.perf_counter() - started
        result = {
            "status": backup.status,
            "error": backup.error,
            "backup_id": backup.pk,
            "size": backup.size_bytes,
            "files": [c.location for c in backup.copies.all()],
        }
    else:
        backup = Backup.objects.get(pk=args.backup_id)
        source = backup.database
        target = Database.objects.create(
            group=group,
            name=f"restore-{args.db}-{os.getpid()}",
            engine="postgresql",
            host=source.host,
            port=source.port,
            username=source.username,
            password=source.password,
            database_name=args.db,
        )
        restore = Restore.objects.create(backup=backup, target_database=target)
        started = time.perf_counter()
        restore = run_restore(restore)
        seconds = time.perf_counter() - started
        result = {"status": restore.status, "error": restore.error}
    result["seconds"] = seconds
    # ru_maxrss is in kB on Linux. RUSAGE_CHILDREN is reported but not used for the verdict: a
    # child's maxrss includes the pages it shared with this 60 MB process between fork and exec.
    result["self_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["children_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


# -- the run ----------------------------------------------------------------------------


def bench_size(server: Server, tmp: Path, size_mb: int, repeat: int, compression: str) -> dict:
    name = f"bm_bench_{size_mb}mb"
    print(f"\n== {size_mb} MB: building {name} ...", flush=True)
    t = time.perf_counter()
    db_bytes = build_database(server, name, size_mb)
    print(
        f"   built in {time.perf_counter() - t:.0f} s: pg_database_size = {db_bytes / 2**20:.0f} MiB",
        flush=True,
    )
    env = child_env(tmp)
    env["BM_BENCH_PG"] = json.dumps(
        {"host": server.host, "port": server.port, "user": server.user, "password": server.password}
    )
    out = tmp / f"out-{size_mb}"
    rows = {}

    raw_runs, bm1_runs, bm3_runs = [], [], []
    for i in range(repeat):
        raw_file = out / f"raw-{i}.dump"
        out.mkdir(parents=True, exist_ok=True)
        r = measure(
            [tool("pg_dump"), "-Fc", "-f", str(raw_file), "-d", name], env=server.env(), server=server
        )
        r["size"] = raw_file.stat().st_size
        r["file"] = str(raw_file)
        raw_runs.append(r)
        print(f"   raw pg_dump -Fc: {r['wall']:.2f} s, {r['size'] / 2**20:.1f} MiB", flush=True)
        for dests, runs in ((1, bm1_runs), (3, bm3_runs)):
            r = measure(
                [
                    PYTHON,
                    __file__,
                    "--child",
                    "backup",
                    "--db",
                    name,
                    "--dests",
                    str(dests),
                    "--out",
                    str(out / f"bm{dests}-{i}"),
                    "--compression",
                    compression,
                ],
                env=env,
                server=server,
            )
            if r["status"] != "completed":
                raise SystemExit(f"backup failed: {r['error']}")
            runs.append(r)
            print(
                f"   bm×{dests}: {r['seconds']:.2f} s (process {r['wall']:.2f} s), {r['size'] / 2**20:.1f} MiB, "
                f"peak tree RSS {r['peak_rss_mb']:.0f} MB / PSS {r['peak_pss_mb']:.0f} MB, self {r['self_rss_mb']:.0f} MB, children {r['children_rss_mb']:.0f} MB",
                flush=True,
            )
    raw, bm1, bm3 = best(raw_runs), best(bm1_runs), best(bm3_runs)
    rows["raw dump"] = raw
    rows["bm×1"] = bm1
    rows["bm×3"] = bm3

    raw_restore_runs, bm_restore_runs = [], []
    for _ in range(repeat):
        target = f"{name}_raw_restore"
        server.psql(f'DROP DATABASE IF EXISTS "{target}"')
        server.psql(f'CREATE DATABASE "{target}"')
        r = measure([tool("pg_restore"), "-d", target, raw["file"]], env=server.env(), server=server)
        raw_restore_runs.append(r)
        print(f"   raw pg_restore -d: {r['wall']:.2f} s", flush=True)
        target = f"{name}_bm_restore"
        server.psql(f'DROP DATABASE IF EXISTS "{target}"')
        server.psql(f'CREATE DATABASE "{target}"')
        r = measure(
            [PYTHON, __file__, "--child", "restore", "--db", target, "--backup-id", str(bm3["backup_id"])],
            env=env,
            server=server,
        )
        if r["status"] != "completed":
            raise SystemExit(f"restore failed: {r['error']}")
        bm_restore_runs.append(r)
        print(
            f"   bm restore: {r['seconds']:.2f} s (process {r['wall']:.2f} s), peak tree RSS {r['peak_rss_mb']:.0f} MB / PSS {r['peak_pss_mb']:.0f} MB",
            flush=True,
        )
    rows["raw restore"] = best(raw_restore_runs)
    rows["bm restore"] = best(bm_restore_runs)
    check_restored(server, name, f"{name}_bm_restore")
    for suffix in ("_raw_restore", "_bm_restore"):
        server.psql(f'DROP DATABASE IF EXISTS "{name}{suffix}"')
    server.psql(f'DROP DATABASE IF EXISTS "{name}"')
    shutil.rmtree(out, ignore_errors=True)
    rows["db_bytes"] = db_bytes
    return rows


def check_restored(server: Server, source: str, target: str) -> None:
    sql = (
        "SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT sum(abalance) FROM pgbench_accounts),"
        " (SELECT count(*) FROM noise), (SELECT md5(string_agg(md5(hex) || md5(raw), '' ORDER BY id)) FROM noise)"
    )
    a, b = server.psql(sql, db=source), server.psql(sql, db=target)
    if a != b:
        raise SystemExit(f"restored database differs: {a} != {b}")


def print_table(results: dict[int, dict]) -> None:
    header = (
        f"{'size':>7} | {'run':<11} | {'seconds':>8} | {'× raw':>6} | {'output MiB':>10} | "
        f"{'× raw size':>10} | {'peak RSS MB':>11} | {'peak PSS MB':>11} | {'python maxrss MB':>16}"
    )
    print("\n" + header)
    print("-" * len(header))
    for size_mb, rows in results.items():
        raw, raw_restore = rows["raw dump"], rows["raw restore"]
        for label in ("raw dump", "bm×1", "bm×3", "raw restore", "bm restore"):
            r = rows[label]
            seconds = r.get("seconds", r["wall"])
            base = raw_restore if "restore" in label else raw
            base_seconds = base.get("seconds", base["wall"])
            size = r.get("size")
            print(
                f"{size_mb:>5}MB | {label:<11} | {seconds:>8.2f} | {seconds / base_seconds:>6.2f} | "
                f"{(size / 2**20 if size else float('nan')):>10.1f} | "
                f"{(size / raw['size'] if size else float('nan')):>10.2f} | {r['peak_rss_mb']:>11.0f} | "
                f"{r['peak_pss_mb']:>11.0f} | "
                f"{r.get('self_rss_mb', float('nan')):>16.0f}"
            )
    print(
        "\ntargets: bm×3 ≤ 0.6 × raw dump time with output ≤ raw size; bm restore ≤ 1.1 × raw pg_restore; "
        "peak RSS ≤ 100 MB"
    )
    for size_mb, rows in results.items():
        raw = rows["raw dump"]
        bm3 = rows["bm×3"]
        ratio = bm3["seconds"] / raw["wall"]
        size_ratio = bm3["size"] / raw["size"]
        restore_ratio = rows["bm restore"]["seconds"] / rows["raw restore"]["wall"]
        rss = max(rows[k]["peak_rss_mb"] for k in ("bm×1", "bm×3", "bm restore"))
        pss = max(rows[k]["peak_pss_mb"] for k in ("bm×1", "bm×3", "bm restore"))
        print(
            f"{size_mb:>5}MB: bm×3 {ratio:.2f}× raw time {'OK' if ratio <= 0.6 else 'MISSED'}, "
            f"size {size_ratio:.2f}× {'OK' if size_ratio <= 1 else 'MISSED'}; "
            f"restore {restore_ratio:.2f}× {'OK' if restore_ratio <= 1.1 else 'MISSED'}; "
            f"peak RSS {rss:.0f} MB {'OK' if rss <= 100 else 'MISSED'} (PSS {pss:.0f} MB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000", help="comma-separated database sizes in MB")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best counts")
    parser.add_argument("--compression", default="zstd", choices=["none", "gzip", "zstd"])
    parser.add_argument("--tmp", default=None, help="folder for the cluster, dumps and destinations")
    parser.add_argument("--child", choices=["backup", "restore"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--dests", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--backup-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return

    tmp = Path(tempfile.mkdtemp(prefix="bm-bench-", dir=args.tmp))
    tmp.chmod(0o755)  # the postgres user must reach its cluster folder inside
    server = None
    try:
        server = start_server(tmp)
        env = child_env(tmp)
        subprocess.run([PYTHON, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
        print(
            f"cpus: {os.cpu_count()}, pg_dump: {subprocess.run([tool('pg_dump'), '--version'], capture_output=True, text=True).stdout.strip()}"
        )
        results = {}
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            results[size] = bench_size(server, tmp, size, args.repeat, args.compression)
        print_table(results)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    main()
