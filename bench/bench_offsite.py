#!/usr/bin/env python3
"""Benchmark: off-site (local + S3 + SFTP) and encrypted backups, and restores from S3, against raw pg_dump.

Run by hand, not by the test suite:

    .venv/bin/python bench/bench_offsite.py --size 300 --repeat 1
    .venv/bin/python bench/bench_offsite.py                 # ~1 GB, best of 2

It reuses bench_backup.py's PostgreSQL server, data generator (pgbench + random
hex text and bytes) and process-tree memory sampler, and starts its own S3
server (moto_server from .venv-moto, on 127.0.0.1) and sshd (own host key and
config, key login, internal-sftp) like tests/destinations/conftest.py. One run
measures:

- raw dump:     `pg_dump -Fc -f FILE` (the baseline);
- bm×3:         run_backup() to a local folder + an S3 bucket + an SFTP folder, not encrypted;
- bm×3 age:     the same with the database's age key (encryption_key);
- raw restore:  `pg_restore -d NEWDB FILE` of the raw dump;
- restore local / restore S3: run_restore() of the encrypted backup with its
  source copy forced to the local copy / the S3 copy, into a fresh database.

Bytes served by S3 during a restore are counted on the app's side: the child
process wraps botocore's StreamingBody.read (every byte of every GetObject
body the app read); moto_server's access log gives the number of GET requests it answered.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_backup as bb  # noqa: E402

ROOT = bb.ROOT
PYTHON = bb.PYTHON
TARGETS = {"enc3 / raw dump": 0.6, "enc / plain": 1.10, "rss": 150, "s3 restore": 1.2, "restore": 1.0}


# -- the BackupManager side (child process) ---------------------------------------------


def count_s3_reads() -> dict:
    """Wrap botocore's StreamingBody so every GetObject body byte the app reads is counted."""
    from botocore.response import StreamingBody

    counter = {"bytes": 0, "bodies": 0}
    init, read = StreamingBody.__init__, StreamingBody.read

    def counting_init(self, *a, **kw):
        counter["bodies"] += 1
        init(self, *a, **kw)

    def counting_read(self, amt=None):
        data = read(self, amt)
        counter["bytes"] += len(data)
        return data

    StreamingBody.__init__ = counting_init
    StreamingBody.read = counting_read
    return counter


def child_main(args) -> None:
    import resource

    bb.child_setup()
    from apps.backups.models import Backup, Restore
    from apps.backups.restore import run_restore
    from apps.backups.runner import run_backup
    from apps.databases.models import Database
    from apps.destinations.models import Destination
    from apps.groups.models import Group
    from apps.keys.services import create_key

    counter = count_s3_reads()
    group, _ = Group.objects.get_or_create(name="bench")
    conn = json.loads(os.environ["BM_BENCH_PG"])
    remote = json.loads(os.environ["BM_BENCH_REMOTE"])
    if args.child == "backup":
        key = None
        if args.encrypt:
            key = create_key(group, f"bench-{os.getpid()}", keep_identity=True).key
        database = Database.objects.create(
            group=group,
            name=f"{args.db}-{os.getpid()}",
            engine="postgresql",
            host=conn["host"],
            port=conn["port"],
            username=conn["user"],
            password=conn["password"],
            database_name=args.db,
            compression="zstd",
            encryption_key=key,
        )
        from apps.groups import locations

        # The local copy goes under the group's own backup folder (BM_ALLOWED_ROOTS/group-<id>).
        folder = Path(locations.folders(group.pk, locations.BACKUPS, create=True)[0]) / Path(args.out).name
        folder.mkdir(parents=True, exist_ok=True)
        Destination.objects.create(database=database, name="local", path=str(folder))
        Destination.objects.create(
            database=database,
            name="s3",
            kind="s3",
            endpoint_url=remote["s3_endpoint"],
            region="us-east-1",
            bucket=remote["bucket"],
            prefix=f"bench/{os.getpid()}",
            access_key_id="bench-access-key",
            secret_access_key="bench-secret-key",
            path_style=True,
        )
        Destination.objects.create(
            database=database,
            name="sftp",
            kind="sftp",
            host="127.0.0.1",
            port=remote["sftp_port"],
            username=remote["sftp_user"],
            private_key=remote["sftp_key"],
            host_key=remote["sftp_host_key"],
            path=f"{remote['sftp_path']}/{os.getpid()}",
        )
        backup = Backup.objects.create(database=database)
        started = time.perf_counter()
        backup = run_backup(backup)
        seconds = time.perf_counter() - started
        copies = {c.destination.kind: c.status for c in backup.copies.select_related("destination")}
        result = {
            "status": backup.status,
            "error": backup.error,
            "backup_id": backup.pk,
            "size": backup.size_bytes,
            "copies": copies,
            "encrypted": bool(backup.encrypted),
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
        copy = backup.copies.get(destination__kind=args.source)
        restore = Restore.objects.create(backup=backup, target_database=target, source_copy=copy)
        started = time.perf_counter()
        restore = run_restore(restore)
        seconds = time.perf_counter() - started
        restore.refresh_from_db()
        result = {
            "status": restore.status,
            "error": restore.error,
            "source_kind": restore.source_copy.destination.kind if restore.source_copy else None,
            "backup_size": backup.size_bytes,
        }
    result["seconds"] = seconds
    result["s3_bytes_read"] = counter["bytes"]
    result["s3_bodies"] = counter["bodies"]
    result["self_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# -- the run ------------------------------------------------------------------------------


def run(args) -> None:
    from tests.destinations.conftest import MotoServer, SSHServer, s3_client

    tmp = Path(tempfile.mkdtemp(prefix="bm-bench-offsite-", dir=args.tmp))
    tmp.chmod(0o755)
    server = moto = sshd = None
    try:
        server = bb.start_server(tmp)
        moto = MotoServer(tmp / "moto.log")
        sshd = SSHServer(tmp / "sshd")
        bucket = "bm-bench"
        s3_client(moto.endpoint).create_bucket(Bucket=bucket)
        env = bb.child_env(tmp)
        env["BM_GENERATE_KEYS"] = (
            "1"  # SECRET_KEY / BM_ENCRYPTION_KEYS generated into the throwaway BM_DATA_DIR
        )
        subprocess.run([PYTHON, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
        env["BM_BENCH_PG"] = json.dumps(
            {"host": server.host, "port": server.port, "user": server.user, "password": server.password}
        )
        env["BM_BENCH_REMOTE"] = json.dumps(
            {
                "s3_endpoint": moto.endpoint,
                "bucket": bucket,
                "sftp_port": sshd.port,
                "sftp_user": sshd.user,
                "sftp_key": sshd.client_private,
                "sftp_host_key": sshd.host_public,
                "sftp_path": str(sshd.remote),
            }
        )
        pg_version = subprocess.run([bb.tool("pg_dump"), "--version"], capture_output=True, text=True)
        print(f"cpus: {os.cpu_count()}, {pg_version.stdout.strip()}, load {os.getloadavg()}", flush=True)

        name = f"bm_offsite_{args.size}mb"
        print(f"\n== {args.size} MB: building {name} ...", flush=True)
        t = time.perf_counter()
        db_bytes = bb.build_database(server, name, args.size)
        print(f"   built in {time.perf_counter() - t:.0f} s: {db_bytes / 2**20:.0f} MiB", flush=True)
        loads = [os.getloadavg()]
        out = tmp / "dest"
        out.mkdir(parents=True, exist_ok=True)
        runs: dict[str, list[dict]] = {"raw dump": [], "bm×3": [], "bm×3 age": []}
        for i in range(args.repeat):
            raw_file = out / f"raw-{i}.dump"
            r = bb.measure(
                [bb.tool("pg_dump"), "-Fc", "-f", str(raw_file), "-d", name], env=server.env(), server=server
            )
            r["size"], r["file"] = raw_file.stat().st_size, str(raw_file)
            runs["raw dump"].append(r)
            print(f"   raw pg_dump -Fc: {r['wall']:.2f} s, {r['size'] / 2**20:.1f} MiB", flush=True)
            for label, encrypt in (("bm×3", False), ("bm×3 age", True)):
                argv = [
                    PYTHON,
                    __file__,
                    "--child",
                    "backup",
                    "--db",
                    name,
                    "--out",
                    str(out / f"{label}-{i}"),
                ]
                r = bb.measure(argv + (["--encrypt"] if encrypt else []), env=env, server=server)
                if r["status"] != "completed" or set(r["copies"].values()) != {"completed"}:
                    raise SystemExit(f"{label} backup failed: {r['error']} {r['copies']}")
                if r["encrypted"] != encrypt:
                    raise SystemExit(f"{label}: encrypted={r['encrypted']}")
                runs[label].append(r)
                print(
                    f"   {label}: {r['seconds']:.2f} s (process {r['wall']:.2f} s), {r['size'] / 2**20:.1f} MiB,"
                    f" peak tree RSS {r['peak_rss_mb']:.0f} MB / PSS {r['peak_pss_mb']:.0f} MB",
                    flush=True,
                )
            loads.append(os.getloadavg())
        rows = {label: bb.best(rs) for label, rs in runs.items()}
        enc_id = rows["bm×3 age"]["backup_id"]

        restore_runs: dict[str, list[dict]] = {"raw restore": [], "restore local": [], "restore S3": []}
        for _ in range(args.repeat):
            target = f"{name}_raw_restore"
            server.psql(f'DROP DATABASE IF EXISTS "{target}"')
            server.psql(f'CREATE DATABASE "{target}"')
            r = bb.measure(
                [bb.tool("pg_restore"), "-d", target, rows["raw dump"]["file"]],
                env=server.env(),
                server=server,
            )
            restore_runs["raw restore"].append(r)
            print(f"   raw pg_restore -d: {r['wall']:.2f} s", flush=True)
            for label, kind in (("restore local", "local"), ("restore S3", "s3")):
                target = f"{name}_bm_restore_{kind}"
                server.psql(f'DROP DATABASE IF EXISTS "{target}"')
                server.psql(f'CREATE DATABASE "{target}"')
                argv = [PYTHON, __file__, "--child", "restore", "--db", target, "--backup-id", str(enc_id)]
                gets_before = moto_gets(tmp / "moto.log", bucket)
                r = bb.measure(argv + ["--source", kind], env=env, server=server)
                r["moto_gets"] = moto_gets(tmp / "moto.log", bucket) - gets_before
                if r["status"] != "completed" or r["source_kind"] != kind:
                    raise SystemExit(f"{label} failed: {r['error']} (source {r['source_kind']})")
                restore_runs[label].append(r)
                print(
                    f"   {label}: {r['seconds']:.2f} s (process {r['wall']:.2f} s), peak tree RSS "
                    f"{r['peak_rss_mb']:.0f} MB, S3 bytes read {r['s3_bytes_read']} through {r['s3_bodies']} "
                    f"StreamingBody objects, {r['moto_gets']} GET requests in moto's log "
                    f"(backup {r['backup_size']})",
                    flush=True,
                )
                bb.check_restored(server, name, target)
            loads.append(os.getloadavg())
        rows.update({label: bb.best(rs) for label, rs in restore_runs.items()})
        print_table(args.size, db_bytes, rows, loads)
    finally:
        for s in (sshd, moto):
            if s is not None:
                s.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def moto_gets(log, bucket: str) -> int:
    """GET requests for objects of the bucket that moto_server logged so far (werkzeug access log)."""
    return sum(f'"GET /{bucket}/' in line for line in log.read_text(errors="replace").splitlines())


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def print_table(size_mb: int, db_bytes: int, rows: dict, loads: list) -> None:
    raw, raw_restore = rows["raw dump"], rows["raw restore"]
    header = (
        f"{'run':<13} | {'seconds':>8} | {'× raw':>6} | {'output MiB':>10} | {'× raw size':>10} | "
        f"{'peak RSS MB':>11} | {'peak PSS MB':>11} | {'S3 MiB read':>11}"
    )
    print(f"\nsize {size_mb} MB (pg_database_size {db_bytes / 2**20:.0f} MiB); load averages (1/5/15 min)")
    print("  " + "; ".join("/".join(f"{x:.1f}" for x in load) for load in loads))
    print("\n" + header)
    print("-" * len(header))
    for label in ("raw dump", "bm×3", "bm×3 age", "raw restore", "restore local", "restore S3"):
        r = rows[label]
        seconds = r.get("seconds", r["wall"])
        base = raw_restore if "restore" in label else raw
        size = r.get("size")
        s3 = r.get("s3_bytes_read")
        print(
            f"{label:<13} | {seconds:>8.2f} | {seconds / base['wall']:>6.2f} | "
            f"{(size / 2**20 if size else float('nan')):>10.1f} | "
            f"{(size / raw['size'] if size else float('nan')):>10.2f} | {r['peak_rss_mb']:>11.0f} | "
            f"{r['peak_pss_mb']:>11.0f} | {(s3 / 2**20 if s3 is not None else float('nan')):>11.1f}"
        )
    enc, plain = rows["bm×3 age"], rows["bm×3"]
    enc_ratio = enc["seconds"] / raw["wall"]
    overhead = enc["seconds"] / plain["seconds"] - 1
    rss = max(rows[k]["peak_rss_mb"] for k in ("bm×3", "bm×3 age", "restore local", "restore S3"))
    local_ratio = rows["restore local"]["seconds"] / raw_restore["wall"]
    s3_ratio = rows["restore S3"]["seconds"] / raw_restore["wall"]
    s3_read = rows["restore S3"]["s3_bytes_read"]
    print("\ntargets (issue 9, issue 15):")
    print(
        f"  encrypted 3-destination backup {enc_ratio:.2f}× raw pg_dump -Fc (≤ 0.6) {verdict(enc_ratio <= 0.6)}"
    )
    print(f"  encryption adds {overhead * 100:+.1f} % (≤ 10 %) {verdict(overhead <= 0.10)}")
    print(f"  peak RSS {rss:.0f} MB (≤ 150 MB) {verdict(rss <= 150)}")
    print(f"  restore from S3 {s3_ratio:.2f}× raw pg_restore (≤ 1.2) {verdict(s3_ratio <= 1.2)}")
    print(
        f"  restore (local copy) {local_ratio:.2f}× raw pg_restore (issue 15: ≤ 1.0) {verdict(local_ratio <= 1.0)}"
    )
    print(f"  restore (S3 copy) {s3_ratio:.2f}× raw pg_restore (issue 15: ≤ 1.0) {verdict(s3_ratio <= 1.0)}")
    print(
        f"  S3 bytes read by the restore: {s3_read} = {s3_read / enc['size']:.3f}× the object "
        f"({enc['size']} bytes), {rows['restore S3']['moto_gets']} GET request(s) in moto's log "
        f"(issue 15: read once) {verdict(s3_read == enc['size'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1000, help="database size in MB (default 1000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best counts")
    parser.add_argument("--tmp", default=None, help="folder for the cluster, dumps and servers")
    parser.add_argument("--child", choices=["backup", "restore"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--encrypt", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backup-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--source", choices=["local", "s3", "sftp"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
    else:
        run(args)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    main()
