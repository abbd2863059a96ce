"""Fixtures for the backup pipeline, runner, services and API tests."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from apps.backups.models import Backup, BackupCopy


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


@pytest.fixture
def make_backup_with_file(make_backup, make_destination):
    """A finished backup with a real file at one destination per entry of `ok` (True = saved)."""

    def make(database, *, ok=(True,), **kwargs):
        backup = make_backup(database, **kwargs)
        for i, saved in enumerate(ok):
            dest = make_destination(database)
            location = Path(dest.path) / f"b{backup.pk}-{i}.dump"
            if saved:
                location.write_bytes(b"dump")
            BackupCopy.objects.create(
                backup=backup,
                destination=dest,
                destination_name=dest.name,
                location=str(location),
                status=BackupCopy.Status.COMPLETED if saved else BackupCopy.Status.FAILED,
            )
        return backup

    return make
