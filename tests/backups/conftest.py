"""Fixtures for the backup pipeline, runner, services and API tests."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from apps.backups.models import Backup


def make_sqlite_file(path: Path, rows: int = 200) -> Path:
    """A SQLite database with unicode text, blobs, NULLs, an index, a view and a row over 1 MB."""
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB, note TEXT)")
        db.execute("CREATE INDEX items_name ON items(name)")
        db.execute("CREATE VIEW named AS SELECT id, name FROM items WHERE name IS NOT NULL")
        db.executemany(
            "INSERT INTO items (name, data, note) VALUES (?, ?, ?)",
            [
                (
                    f"élément {i} — ☃",
                    bytes((i * 7 + j) % 256 for j in range(64)),
                    None if i % 3 else "x",
                )
                for i in range(rows)
            ],
        )
        db.execute(
            "INSERT INTO items (name, data) VALUES (?, ?)",
            ("big", b"\x00\xff" * 600_000),
        )
    db.close()
    return path


def table_digest(path: Path | str) -> tuple[int, str]:
    """(row count, sha256 of every row in order) of the items table."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT id, name, data, note FROM items ORDER BY id").fetchall()
    finally:
        db.close()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def sqlite_database(make_database, tmp_path):
    """A registered SQLite database with data (zstd compression, the default)."""
    path = make_sqlite_file(tmp_path / "source.sqlite3")
    return make_database(name="Orders DB", database_name=str(path))


@pytest.fixture
def make_backup(db):
    def make(database, **overrides) -> Backup:
        fields = {"database": database, "trigger": Backup.Trigger.MANUAL}
        fields.update(overrides)
        return Backup.objects.create(**fields)

    return make


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Make tempfile use a folder of our own, so tests can see that workdirs are removed."""
    import tempfile

    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


# -- real servers (started by bin/test) -------------------------------------------

_names = iter(range(1, 1_000_000))


@pytest.fixture
def pg_database(pg_server):
    """Create empty PostgreSQL databases on the test server; drop them afterwards."""
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
        name = f"{prefix}_{os.getpid()}_{next(_names)}"
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
    """Create empty MariaDB databases on the test server; drop them afterwards."""
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
        name = f"{prefix}_{os.getpid()}_{next(_names)}"
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
