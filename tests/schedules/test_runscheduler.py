"""`manage.py runscheduler` as real processes: races, crashes, signals, cron."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.backups.streams import WORKDIR_PREFIX
from tests.polling import wait_until
from tests.schedules.conftest import _pg_connect, make_sqlite_file

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def make_scheduled_databases(site, count: int, due_in: float, *, src_dir: Path, cron="0 * * * *") -> datetime:
    """`count` SQLite databases, each with a local destination and a schedule due in `due_in` seconds."""
    src_dir.mkdir(exist_ok=True)
    due = site.python(
        f"""
import sqlite3
g, _ = Group.objects.get_or_create(name='workers')
due = timezone.now().replace(microsecond=0) + timedelta(seconds={due_in})
for i in range({count}):
    path = os.path.join({str(src_dir)!r}, 'src-%d.sqlite3' % i)
    c = sqlite3.connect(path); c.execute('create table t (x)'); c.execute('insert into t values (1)'); c.commit(); c.close()
    d = Database.objects.create(group=g, name='db-%d' % i, engine='sqlite', database_name=path, compression='none')
    dest = os.path.join({str(site.root)!r}, 'd-%d' % i); os.makedirs(dest)
    Destination.objects.create(database=d, name='local', path=dest)
    Schedule.objects.create(database=d, name='s', interval_value='custom', cron_expression={cron!r},
                            next_run_at=due)
result = due.isoformat()
"""
    )
    return datetime.fromisoformat(due)


BACKUP_ROWS = """
result = [
    dict(id=b.id, schedule=b.schedule_id, database=b.database_id, status=b.status, error=b.error,
         started_at=b.started_at.isoformat() if b.started_at else None, worker=b.worker_id,
         copies=[(c.status, c.location) for c in b.copies.all()])
    for b in Backup.objects.order_by('id')
]
"""


def wait_for(site, code: str, predicate, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = site.python(code)
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def all_finished(expected: int):
    return lambda rows: (
        len(rows) >= expected and all(r["status"] in ("completed", "partial", "failed") for r in rows)
    )


# --- --once, from the command line and from cron ------------------------------------------


def test_runscheduler_once_runs_due_schedules_and_a_queued_manual_backup(sqlite_site, tmp_path):
    make_scheduled_databases(sqlite_site, 2, -5, src_dir=tmp_path / "src")
    sqlite_site.python(
        "d = Database.objects.get(name='db-0'); Schedule.objects.filter(database=d).update(enabled=False);"
        "result = Backup.objects.create(database=d, trigger='manual', status='pending').pk"
    )
    out = sqlite_site.manage("runscheduler", "--once", BM_WORKER_CONCURRENCY=2)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = sqlite_site.python(BACKUP_ROWS)
    assert sorted((r["database"], r["status"]) for r in rows) == [(1, "completed"), (2, "completed")]
    for row in rows:
        [(status, location)] = row["copies"]
        assert status == "completed" and Path(location).is_file() and not Path(location + ".partial").exists()
    later = sqlite_site.python(
        "result = [s.next_run_at > timezone.now() for s in Schedule.objects.filter(enabled=True)]"
    )
    assert later == [True]
    health = sqlite_site.python(
        "from apps.schedules.worker_status import scheduler_health; result = scheduler_health()"
    )
    assert health["status"] == "ok"


def test_crontab_add_registers_one_once_tick_per_minute_that_runs_due_work(tmp_path, settings, sqlite_site):
    store = tmp_path / "crontab.txt"
    fake = tmp_path / "fake-crontab"
    # A stand-in for crontab(1): `-l` prints the stored table, `<file>` replaces it.
    fake.write_text(
        "#!/bin/sh\n"
        f'STORE="{store}"\n'
        'if [ "$1" = "-l" ]; then cat "$STORE" 2>/dev/null; exit 0; fi\n'
        'cp "$1" "$STORE"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    settings.CRONTAB_EXECUTABLE = str(fake)
    settings.CRONTAB_DJANGO_PROJECT_DIR = str(Path(settings.BASE_DIR))
    call_command("crontab", "add")
    lines = [line for line in store.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("* * * * * ")
    assert "crontab run" in line and "django-cronjobs for backupmanager" in line
    assert settings.CRONJOBS == [
        ("* * * * *", "django.core.management.call_command", ["runscheduler"], {"once": True})
    ]
    # What cron would run each minute: one `runscheduler --once` tick.
    make_scheduled_databases(sqlite_site, 1, -1, src_dir=tmp_path / "src")
    command = line.split(" # ")[0].split()[5:]
    assert command[:2] == [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    tick = subprocess.run(
        command, cwd=tmp_path, env=sqlite_site.env(), capture_output=True, text=True, timeout=120
    )
    assert tick.returncode == 0, tick.stderr
    [row] = sqlite_site.python(BACKUP_ROWS)
    assert row["status"] == "completed", (row, tick.stdout, tick.stderr)
    call_command("crontab", "add")  # idempotent
    again = [x for x in store.read_text().splitlines() if x.strip() and not x.startswith("#")]
    assert again == lines
    call_command("crontab", "remove")
    assert not [x for x in store.read_text().splitlines() if x.strip() and not x.startswith("#")]


# --- two workers, one metadata database --------------------------------------------------


@pytest.mark.parametrize("site_fixture", ["sqlite_site", "pg_site"])
def test_two_workers_run_fifty_schedules_due_in_the_same_minute_exactly_once(request, site_fixture, tmp_path):
    site = request.getfixturevalue(site_fixture)
    make_scheduled_databases(site, 50, 600, src_dir=tmp_path / "src")
    workers = [site.start_worker(BM_WORKER_CONCURRENCY=8) for _ in range(2)]
    for proc in workers:  # how long a busy machine takes to start Django is not the worker's doing
        wait_until(lambda p=proc: "started" in p.log_path.read_text(), timeout=60, what="a worker to start")
    due = datetime.fromisoformat(
        site.python(
            "due = timezone.now().replace(microsecond=0) + timedelta(seconds=3)\n"
            "Schedule.objects.update(next_run_at=due)\n"
            "result = due.isoformat()"
        )
    )
    rows = wait_for(site, BACKUP_ROWS, all_finished(50), timeout=90)
    runs = site.python("result = ScheduleRun.objects.count()")
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    codes = [proc.wait(30) for proc in workers]
    logs = "\n".join(p.log_path.read_text() for p in workers)
    assert codes == [0, 0], logs
    assert len(rows) == 50 and runs == 50, logs
    assert len({r["schedule"] for r in rows}) == 50  # none twice
    assert {r["status"] for r in rows} == {"completed"}, [r["error"] for r in rows]
    lateness = [(datetime.fromisoformat(r["started_at"]) - due).total_seconds() for r in rows]
    assert min(lateness) >= 0  # nothing started early
    # What the worker controls is when it wakes: each one sleeps until the due time (at most 1 s
    # at a time) and claims in its first pass after it. How long the other 48 backups then wait
    # for a free slot is throughput, which depends on how busy the machine is, so it is not
    # measured here.
    first_start = {}
    for r in rows:
        started = (datetime.fromisoformat(r["started_at"]) - due).total_seconds()
        first_start[r["worker"]] = min(started, first_start.get(r["worker"], started))
    assert len(first_start) == 2  # both workers took a share
    assert max(first_start.values()) < 5, (first_start, logs)


# --- crashes and signals -----------------------------------------------------------------


class SqliteLock:
    """An honest slow dump: another connection holds an EXCLUSIVE lock on the source file."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")

    def release(self):
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


class PostgresLock:
    """An honest slow dump: a session holds ACCESS EXCLUSIVE on a table, so pg_dump waits for it."""

    def __init__(self, server, dbname):
        self.conn = _pg_connect(server, dbname)
        self.conn.autocommit = False
        with self.conn.cursor() as cur:
            cur.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")

    def release(self):
        if self.conn is not None:
            self.conn.rollback()
            self.conn.close()
            self.conn = None


@pytest.fixture(params=["sqlite", "postgresql"])
def locked_source(request, sqlite_site, tmp_path):
    """(site, lock, database spec): a source database whose dump blocks until the lock is released."""
    site = sqlite_site
    if request.param == "sqlite":
        path = make_sqlite_file(tmp_path / "locked.sqlite3", rows=200)
        spec = {"engine": "sqlite", "database_name": str(path)}
        lock = SqliteLock(path)
    else:
        server = request.getfixturevalue("pg_server")
        name = request.getfixturevalue("pg_database")("bm_src")
        conn = _pg_connect(server, name)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE items (id serial primary key, name text)")
            cur.execute("INSERT INTO items (name) SELECT 'item-' || g FROM generate_series(1, 1000) g")
        conn.close()
        spec = {
            "engine": "postgresql",
            "host": server["host"],
            "port": int(server["port"]),
            "database_name": name,
            "username": server["user"],
            "password": server["password"],
        }
        bindir = os.environ.get("BM_TEST_PG_BINDIR")
        if bindir:
            site.extra_env["PATH"] = f"{bindir}:{os.environ.get('PATH', '')}"
        lock = PostgresLock(server, name)
    yield site, lock, spec
    lock.release()


def add_locked_database(site, spec: dict, *, cron: str) -> int:
    """The locked source, registered with a destination and a schedule due in two seconds."""
    return site.python(
        f"""
g, _ = Group.objects.get_or_create(name='crash')
d = Database.objects.create(group=g, name='locked', compression='none', **{spec!r})
dest = os.path.join({str(site.root)!r}, 'locked'); os.makedirs(dest, exist_ok=True)
Destination.objects.create(database=d, name='local', path=dest)
s = Schedule.objects.create(database=d, name='s', interval_value='custom', cron_expression={cron!r},
                            next_run_at=timezone.now() + timedelta(seconds=2))
result = s.pk
"""
    )


def wait_in_progress(site, timeout=30):
    rows = wait_for(site, BACKUP_ROWS, lambda r: any(x["status"] == "in_progress" for x in r), timeout, 0.5)
    assert any(x["status"] == "in_progress" for x in rows), rows
    return next(x for x in rows if x["status"] == "in_progress")


def partial_files(site) -> list[Path]:
    return list(site.root.rglob("*.partial"))


def run_folders(proc) -> list[Path]:
    """The private temp folders (password files, SQLite snapshots) of one worker process."""
    return list(Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}{proc.pid}-*"))


def wait_for_leftovers(site, spec: dict, proc) -> list[Path]:
    """What a blocked backup of `proc` has on disk, once it is there: its run folder, and for
    PostgreSQL the .partial files at the destinations.

    pg_dump writes its header before it waits for the lock, so every destination holds a
    .partial; the SQLite engine snapshots the whole file (into the run folder) before the
    first byte is written, and the lock blocks the snapshot: no .partial exists yet.
    """
    folders = wait_until(lambda: run_folders(proc), timeout=30, what="the worker's run folder")
    if spec["engine"] == "sqlite":
        return folders
    partials = wait_until(lambda: partial_files(site), timeout=30, what="a .partial file at the destination")
    return folders + partials


def test_kill_9_mid_backup_then_a_second_worker_fails_it_interrupted_and_the_next_run_happens(locked_source):
    site, lock, spec = locked_source
    schedule_id = add_locked_database(site, spec, cron="* * * * *")
    first = site.start_worker()
    running = wait_in_progress(site)
    # What the dead worker leaves behind, so that the test proves it is cleaned up.
    left_behind = wait_for_leftovers(site, spec, first)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = site.start_worker()
    rows = wait_for(site, BACKUP_ROWS, lambda r: r[0]["status"] == "failed", timeout=30, interval=0.5)
    lock.release()
    crashed = rows[0]
    assert crashed["id"] == running["id"]
    assert (crashed["status"], crashed["error"]) == ("failed", "interrupted: worker stopped")
    # Gone: the crashed run's .partial files (the reaper) and its run folder (the second worker's
    # start-up). A run of the next slot may already be writing its own .partial, so only these.
    assert [p for p in left_behind if p.exists()] == []
    # The schedule is not stuck: its next slot is the coming minute, and when that
    # comes due the second worker runs it (pulled forward so the test need not wait).
    next_in = (
        site.python(f"result = Schedule.objects.get(pk={schedule_id}).next_run_at.timestamp()") - time.time()
    )
    assert 0 < next_in <= 61
    site.python(f"Schedule.objects.filter(pk={schedule_id}).update(next_run_at=timezone.now())")
    rows = wait_for(site, BACKUP_ROWS, lambda r: len(r) >= 2 and r[1]["status"] == "completed", 30, 0.5)
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0
    assert len(rows) >= 2 and rows[1]["status"] == "completed", second.log_path.read_text()
    assert rows[1]["schedule"] == schedule_id and rows[1]["worker"] != crashed["worker"]
    assert partial_files(site) == []


def test_sigterm_lets_a_backup_finish_within_the_grace_period(locked_source):
    site, lock, spec = locked_source
    add_locked_database(site, spec, cron="0 0 * * *")
    proc = site.start_worker(BM_WORKER_GRACE_SECONDS=30)
    wait_in_progress(site)
    proc.send_signal(signal.SIGTERM)
    # The worker took the signal and is in its grace period (it says so) before the dump can go on.
    wait_until(lambda: "waiting up to" in proc.log_path.read_text(), timeout=30, what="the grace period")
    lock.release()
    assert proc.wait(40) == 0, proc.log_path.read_text()
    [row] = site.python(BACKUP_ROWS)
    assert row["status"] == "completed", row
    assert partial_files(site) == []


def test_sigterm_marks_a_backup_still_running_after_the_grace_period_interrupted(locked_source):
    site, lock, spec = locked_source
    add_locked_database(site, spec, cron="0 0 * * *")
    proc = site.start_worker(BM_WORKER_GRACE_SECONDS=2)
    wait_in_progress(site)
    left_behind = wait_for_leftovers(site, spec, proc)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(40)
    took = time.monotonic() - started
    log = proc.log_path.read_text()
    assert code == 0, log
    assert took < 20, log
    [row] = site.python(BACKUP_ROWS)
    assert (row["status"], row["error"]) == ("failed", "interrupted: worker stopped"), log
    assert partial_files(site) == []
    assert "stopped" in log
    left = [p for p in left_behind if p.exists()]
    if left:
        # A thread stuck in the SQLite snapshot cannot be stopped, so the worker leaves without
        # removing its run folder; the next worker to start on this host removes it.
        nxt = site.start_worker()
        # Its signal handlers are in place once it says it started (the folder may also have gone
        # already, when the stuck thread finished after all).
        wait_until(lambda: "started" in nxt.log_path.read_text(), timeout=60, what="the next worker to start")
        wait_until(
            lambda: not any(p.exists() for p in left), timeout=30, what=f"the next worker to remove {left}"
        )
        nxt.send_signal(signal.SIGTERM)
        assert nxt.wait(30) == 0


def test_sigint_stops_an_idle_worker_at_once_with_exit_code_zero(sqlite_site):
    proc = sqlite_site.start_worker(BM_WORKER_GRACE_SECONDS=60)
    wait_until(lambda: "started" in proc.log_path.read_text(), timeout=60, what="the worker to start")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    # "At once": with nothing running it does not sit out the 60 s grace period. How many seconds
    # a loaded machine needs to tear a Python process down is not the worker's doing.
    assert time.monotonic() - started < 20
    assert "stopped" in proc.log_path.read_text()


# --- bin/run: the README's run command ---------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.own_metadata  # bin/run keeps its metadata in its own data folder
@pytest.mark.parametrize(
    "sig, preexec",
    [
        pytest.param(signal.SIGINT, None, id="SIGINT"),
        pytest.param(signal.SIGTERM, None, id="SIGTERM"),
        # What `bin/run &` in a script (or a test runner started that way) hands down: a shell
        # cannot trap a signal ignored on entry, so bin/run has to restore it itself.
        pytest.param(signal.SIGINT, _ignore_sigint, id="SIGINT-inherited-as-ignored"),
    ],
)
def test_bin_run_starts_the_web_server_and_the_worker_and_a_signal_stops_both(tmp_path, sig, preexec):
    import json
    import urllib.request

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "PYTEST"))}
    env.update(BM_DATA_DIR=str(tmp_path / "var"), BM_BIND=f"127.0.0.1:{port}", BM_WORKER_GRACE_SECONDS="5")
    env.pop("DEBUG", None)
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115
    repo = Path(__file__).resolve().parents[2]
    # A new session, as a terminal would run it; Ctrl-C there is a SIGINT to the script.
    proc = subprocess.Popen(
        [str(repo / "bin/run")],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=preexec,
    )
    try:
        health, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    health = json.load(response)
                if health["scheduler"]["status"] == "ok":
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert health is not None and health["scheduler"]["status"] == "ok", (
            tmp_path / "run.log"
        ).read_text()
        children = subprocess.run(
            ["pgrep", "-s", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) >= 4  # bin/run, gunicorn's master and its workers, runscheduler
        commands = subprocess.run(["ps", "-o", "args=", "-s", str(proc.pid)], capture_output=True, text=True)
        assert "gunicorn" in commands.stdout and "runserver" not in commands.stdout
        proc.send_signal(sig)
        assert proc.wait(30) == 128 + sig
        wait_until(
            lambda: not subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True).stdout,
            timeout=10,
            what="every process of bin/run's session to end: " + (tmp_path / "run.log").read_text(),
        )
        text = (tmp_path / "run.log").read_text()
        assert "stopping the web server and the worker" in text and "stopped" in text
        assert (tmp_path / "var" / "metadata.sqlite3").exists()  # migrated into BM_DATA_DIR
    finally:
        # Everything of the session: bin/run puts the web server and the worker in process groups
        # of their own, so killing bin/run's group alone would leave them running.
        left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in left:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        log.close()
