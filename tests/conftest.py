"""Shared fixtures: users, API clients and small factories."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.accounts.models import Membership

_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (the failed-login throttle lives there)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def backup_root(tmp_path, settings) -> Path:
    """A fresh allowed root for local destinations."""
    root = tmp_path / "backups"
    root.mkdir()
    settings.BM_ALLOWED_ROOTS = [str(root)]
    return root


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw-alice-123!")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("mallory", "mallory@example.com", "pw-mallory-123!")


@pytest.fixture
def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def other_client(other_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(other_user)
    return client


@pytest.fixture
def make_group(db, tmp_path):
    """Groups; unless `own_folders_only`, the superuser granted each the test's temp folders.

    Most tests put SQLite files in tmp_path and backups in tmp_path/backups (the `backup_root`),
    as a superuser may grant a shared folder on purpose; tests of the groups' separation
    (tests/groups/test_locations.py) make groups with their own folders only.
    """
    from apps.groups.models import Group, GroupLocation

    def make(owner=None, role=Membership.Role.OWNER, own_folders_only=False, **overrides):
        fields = {"name": f"group-{next(_seq)}", "description": ""}
        fields.update(overrides)
        group = Group.objects.create(**fields)
        if owner is not None:
            Membership.objects.create(user=owner, group=group, role=role)
        if not own_folders_only:
            GroupLocation.objects.create(group=group, kind="sqlite", path=os.path.realpath(tmp_path))
            backups = os.path.realpath(tmp_path / "backups")
            GroupLocation.objects.create(group=group, kind="backups", path=backups)
        return group

    return make


@pytest.fixture
def group(make_group, user):
    """A group owned by `user`."""
    return make_group(owner=user, name="team")


@pytest.fixture
def make_database(db, group, tmp_path):
    from apps.databases.models import Database

    def make(**overrides):
        fields = {
            "group": group,
            "name": f"db-{next(_seq)}",
            "engine": "sqlite",
            "database_name": str(tmp_path / f"app-{next(_seq)}.sqlite3"),
        }
        fields.update(overrides)
        return Database.objects.create(**fields)

    return make


@pytest.fixture
def make_destination(db, backup_root):
    from apps.destinations.models import Destination

    def make(database, **overrides):
        name = overrides.pop("name", f"dest-{next(_seq)}")
        path = overrides.pop("path", None)
        if path is None:
            path = backup_root / name
            path.mkdir(parents=True, exist_ok=True)
        return Destination.objects.create(database=database, name=name, path=str(path), **overrides)

    return make


@pytest.fixture
def make_schedule(db):
    from apps.schedules.models import Schedule

    def make(database, **overrides):
        fields = {"name": f"sched-{next(_seq)}", "interval_value": "daily", "cron_expression": "0 0 * * *"}
        fields.update(overrides)
        schedule = Schedule(database=database, **fields)
        if schedule.next_run_at is None:
            schedule.next_run_at = schedule.compute_next_run()
        schedule.save()
        return schedule

    return make


def server_env(prefix: str) -> dict[str, str] | None:
    """Connection settings of a test server started by bin/test, or None outside it."""
    keys = ("HOST", "PORT", "USER", "PASSWORD")
    values = {k.lower(): os.environ.get(f"BM_TEST_{prefix}_{k}") for k in keys}
    if not all(values.values()):
        return None
    return values


def require_server(prefix: str) -> dict[str, str]:
    """Skip outside bin/test, but fail in CI where the servers must exist."""
    env = server_env(prefix)
    if env is None:
        if os.environ.get("CI"):
            pytest.fail(f"BM_TEST_{prefix}_* is not set: bin/test must start the server in CI")
        pytest.skip(f"no {prefix} test server (run the suite through bin/test)")
    return env


@pytest.fixture
def pg_server() -> dict[str, str]:
    return require_server("PG")


@pytest.fixture
def mysql_server() -> dict[str, str]:
    return require_server("MYSQL")


@pytest.fixture
def pg_database(pg_server):
    """Factory: create an empty PostgreSQL database and return its name (`.connect(name)` opens it); all are dropped afterwards."""
    import psycopg2

    created = []

    def admin():
        conn = psycopg2.connect(
            host=pg_server["host"],
            port=int(pg_server["port"]),
            user=pg_server["user"],
            password=pg_server["password"],
            dbname="postgres",
        )
        conn.autocommit = True
        return conn

    def make(prefix: str = "bm_t") -> str:
        name = f"{prefix}_{os.getpid()}_{next(_seq)}"
        conn = admin()  # not `with conn`: that would open a transaction
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        created.append(name)
        return name

    def connect(name: str):
        conn = psycopg2.connect(
            host=pg_server["host"],
            port=int(pg_server["port"]),
            user=pg_server["user"],
            password=pg_server["password"],
            dbname=name,
        )
        conn.autocommit = True
        return conn

    make.connect = connect
    yield make
    conn = admin()
    try:
        with conn.cursor() as cur:
            for name in created:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


@pytest.fixture
def mysql_database(mysql_server):
    """Factory: create an empty MariaDB database and return its name (`.connect(name)` opens it); all are dropped afterwards."""
    import MySQLdb

    created = []

    def connect(name: str | None = None):
        kwargs = {
            "host": mysql_server["host"],
            "port": int(mysql_server["port"]),
            "user": mysql_server["user"],
            "password": mysql_server["password"],
            "charset": "utf8mb4",
            "autocommit": True,
        }
        if name:
            kwargs["database"] = name
        return MySQLdb.connect(**kwargs)

    def make(prefix: str = "bm_t") -> str:
        name = f"{prefix}_{os.getpid()}_{next(_seq)}"
        conn = connect()
        try:
            conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            conn.close()
        created.append(name)
        return name

    make.connect = connect
    yield make
    conn = connect()
    try:
        for name in created:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


# Fixtures that start a site (web server, worker) on a metadata database of its own: the browser
# tests' SQLite file, the worker tests' SQLite file or PostgreSQL database. Whatever the pass.
OWN_METADATA_FIXTURES = {"site", "sqlite_site", "pg_site"}
ON_THE_POSTGRESQL_PASS = os.environ.get("DATABASE_URL", "").startswith("postgres")


def _has_own_metadata(item) -> bool:
    if item.get_closest_marker("own_metadata"):
        return True
    names = set(getattr(item, "fixturenames", ()))
    params = getattr(getattr(item, "callspec", None), "params", {}).values()
    # A parametrized fixture name (request.getfixturevalue(...)); other parameters may be anything.
    return bool(OWN_METADATA_FIXTURES & names) or any(
        isinstance(p, str) and p in OWN_METADATA_FIXTURES for p in params
    )


def pytest_collection_modifyitems(config, items):
    """Under xdist (`bin/test` runs `--dist loadgroup`) each browser module runs on one worker,
    so its module-scoped site (web server + worker processes) starts once, not once per worker.

    A test whose processes keep their metadata in a database of their own does the same thing in
    both of bin/test's passes: the PostgreSQL pass skips it (the SQLite pass runs it)."""
    for item in items:
        if item.get_closest_marker("browser") or item.nodeid.startswith("tests/ui/"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
        if ON_THE_POSTGRESQL_PASS and _has_own_metadata(item):
            item.add_marker(
                pytest.mark.skip(reason="its processes keep their own metadata: the SQLite pass runs it")
            )
