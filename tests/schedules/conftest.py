"""Fixtures for the worker, retention and runscheduler tests."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apps.backups.models import Backup

_seq = itertools.count(1)


def make_sqlite_file(path: Path, rows: int = 50) -> Path:
    """A small real SQLite database to back up."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO items (name) VALUES (?)", [(f"item-{i}",) for i in range(rows)])
    db.commit()
    db.close()
    return path


@pytest.fixture
def sqlite_source(tmp_path) -> Path:
    return make_sqlite_file(tmp_path / f"source-{next(_seq)}.sqlite3")


@pytest.fixture
def backed_database(make_database, make_destination, tmp_path):
    """A real SQLite database with one local destination."""

    def make(**overrides):
        path = make_sqlite_file(tmp_path / f"src-{next(_seq)}.sqlite3")
        overrides.setdefault("database_name", str(path))
        overrides.setdefault("compression", "none")
        database = make_database(**overrides)
        make_destination(database)
        return database

    return make


@pytest.fixture
def make_backup(db):
    """A backup row (no file) with the given status and creation time."""

    def make(database, *, status=Backup.Status.COMPLETED, created_at=None, schedule=None, **fields):
        created_at = created_at or datetime.now(UTC)
        fields.setdefault("trigger", Backup.Trigger.SCHEDULED if schedule else Backup.Trigger.MANUAL)
        return Backup.objects.create(
            database=database,
            schedule=schedule,
            status=status,
            created_at=created_at,
            started_at=created_at,
            finished_at=created_at if status in Backup.TERMINAL else None,
            **fields,
        )

    return make


# --- real worker processes on their own metadata database ------------------------------

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from cryptography.fernet import Fernet  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

_PRELUDE = """
import json, os, sys
import django
django.setup()
from datetime import datetime, timedelta, timezone as dt_timezone
from django.utils import timezone
from apps.groups.models import Group
from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.schedules.models import Schedule, ScheduleRun, WorkerHeartbeat
from apps.backups.models import Backup, BackupCopy, Restore
from django.db.models.signals import post_save
from apps.groups.models import GroupLocation
def _share_test_folders(sender, instance, created, **kwargs):
    # Sources and backups of these tests live in their temp folder: granted to every group, as the
    # superuser may grant a shared folder (tests/groups/test_locations.py tests the separation).
    if created:
        root = os.path.realpath(os.environ["BM_ALLOWED_ROOTS"])
        GroupLocation.objects.create(group=instance, kind="backups", path=root)
        GroupLocation.objects.create(group=instance, kind="sqlite", path=os.path.dirname(root))
post_save.connect(_share_test_folders, sender=Group)
result = None
"""


@dataclass
class WorkerSite:
    """A metadata database (SQLite file or a fresh PostgreSQL database) that worker processes share."""

    database_url: str
    root: Path
    data_dir: Path
    extra_env: dict = field(default_factory=dict)
    procs: list = field(default_factory=list)

    def env(self, **overrides) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BM_WORKER", "PYTEST"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "backupmanager.settings",
                "DATABASE_URL": self.database_url,
                "DEBUG": "false",
                "SECRET_KEY": "worker-test-secret-key-0123456789abcdef-0123456789",
                "BM_ENCRYPTION_KEYS": _FERNET_KEY,
                "BM_DATA_DIR": str(self.data_dir),
                "BM_ALLOWED_ROOTS": str(self.root),
                "BM_HEARTBEAT_STALE_SECONDS": "5",
                # Workers keep the tests' CPU priority: niced on a loaded machine, a worker can miss
                # its 5 s heartbeat and be reaped by the other one (a test of claims, not of nice).
                "BM_WORKER_NICE": "0",
                # The tests read the worker's INFO lines ("started", "waiting up to ...").
                "BM_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        env.update({k: str(v) for k, v in overrides.items()})
        return env

    def python(self, code: str, timeout: float = 120, **env):
        """Run ORM code in a fresh process against this site's database; return its `result`, JSON-decoded."""
        script = _PRELUDE + code + "\nprint('@@RESULT@@' + json.dumps(result, default=str))\n"
        proc = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise AssertionError(f"helper process failed:\n{proc.stdout}\n{proc.stderr}")
        line = [x for x in proc.stdout.splitlines() if x.startswith("@@RESULT@@")][-1]
        return json.loads(line[len("@@RESULT@@") :])

    def manage(self, *args: str, timeout: float = 300, **env) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start_worker(self, *args: str, log_name: str | None = None, **env) -> subprocess.Popen:
        """Start `manage.py runscheduler` in the background; output goes to a log file next to the data."""
        log_path = self.data_dir / (log_name or f"worker-{len(self.procs) + 1}.log")
        fh = open(log_path, "w")  # noqa: SIM115 - closed by the fixture
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler", *args],
            cwd=REPO,
            env=self.env(**env),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = log_path
        proc.log_file = fh
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            proc.log_file.close()


_FERNET_KEY = Fernet.generate_key().decode()


def _make_site(tmp_path: Path, database_url: str, *, migrate: bool = True) -> WorkerSite:
    root = tmp_path / "site-backups"
    data = tmp_path / "site-data"
    root.mkdir()
    data.mkdir()
    site = WorkerSite(database_url=database_url, root=root, data_dir=data)
    if migrate:
        out = site.manage("migrate", "--noinput", timeout=300)
        assert out.returncode == 0, out.stderr
    return site


@pytest.fixture(scope="session")
def migrated_sqlite_metadata(tmp_path_factory) -> Path:
    """A freshly migrated SQLite metadata file, made once per session (per xdist worker) for the
    sites to copy: `migrate` in a new process costs seconds of CPU each time."""
    base = tmp_path_factory.mktemp("migrated-metadata")
    path = base / "meta.sqlite3"
    _make_site(base, f"sqlite:///{path}")
    db = sqlite3.connect(path)  # WAL mode: fold any -wal into the file before it is copied
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


@pytest.fixture
def sqlite_site(tmp_path, migrated_sqlite_metadata):
    path = tmp_path / "meta.sqlite3"
    shutil.copyfile(migrated_sqlite_metadata, path)
    site = _make_site(tmp_path, f"sqlite:///{path}", migrate=False)
    yield site
    site.stop_all()


def _pg_connect(server: dict, dbname: str = "postgres"):
    import psycopg2

    conn = psycopg2.connect(
        host=server["host"],
        port=server["port"],
        user=server["user"],
        password=server["password"],
        dbname=dbname,
    )
    conn.autocommit = True
    return conn


@pytest.fixture
def pg_site(tmp_path, pg_server, pg_database):
    name = pg_database("bm_meta_w")
    url = f"postgres://{pg_server['user']}:{pg_server['password']}@{pg_server['host']}:{pg_server['port']}/{name}"
    site = _make_site(tmp_path, url)
    yield site
    site.stop_all()
