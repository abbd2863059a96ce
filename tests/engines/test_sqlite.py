"""The SQLite engine: online-backup snapshots out, atomic file replacement in."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from pathlib import Path
from typing import ClassVar

import pytest

from apps.engines import get_engine
from apps.engines.base import ConnectionInfo, EngineError

from .helpers import drain

BIG = os.urandom(1024 * 1024 + 123)


def make_source(path: Path, *, wal: bool = False) -> None:
    db = sqlite3.connect(path)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    db.executescript(
        """
        CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, photo BLOB, note TEXT);
        CREATE TABLE events (id INTEGER PRIMARY KEY, person_id INTEGER REFERENCES people(id), at TEXT, payload BLOB);
        CREATE INDEX events_person_at ON events (person_id, at);
        CREATE VIEW people_with_events AS
            SELECT p.name, count(e.id) AS n FROM people p LEFT JOIN events e ON e.person_id = p.id GROUP BY p.id;
        """
    )
    db.executemany(
        "INSERT INTO people (name, photo, note) VALUES (?, ?, ?)",
        [
            ("Zoë Ångström", b"\x00\x01\xff", "naïve café"),
            ("李小龙", None, None),
            ("big", BIG, "😀 " * 1000),
        ],
    )
    db.executemany(
        "INSERT INTO events (person_id, at, payload) VALUES (?, ?, ?)",
        [(i % 3 + 1, f"2026-01-{i % 28 + 1:02d}", os.urandom(i % 50) if i % 7 else None) for i in range(500)],
    )
    db.commit()
    db.close()


def table_digests(path: Path) -> dict[str, tuple[int, str]]:
    """Row count and a sha256 of the ordered rows of every table and view."""
    db = sqlite3.connect(path)
    try:
        names = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
            )
        ]
        out = {}
        for name in names:
            rows = db.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()
            out[name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        return out
    finally:
        db.close()


def schema(path: Path) -> set[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return set(db.execute("SELECT type, name FROM sqlite_master"))
    finally:
        db.close()


def conn_for(path: Path) -> ConnectionInfo:
    # The caller (Database.connection_info()) names the folders the engine may use.
    return ConnectionInfo(engine="sqlite", database_name=str(path), allowed_folders=(str(path.parent),))


@pytest.fixture
def engine():
    return get_engine("sqlite")


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "app.sqlite3"
    make_source(path)
    return path


def test_it_round_trips_tables_blobs_nulls_a_large_row_an_index_and_a_view(engine, source, tmp_path, workdir):
    stream = engine.dump(conn_for(source), timeout=30, workdir=workdir)
    assert stream.extension == "sqlite3"
    dump = tmp_path / "dump.sqlite3"
    drain(stream, dump)

    target = tmp_path / "restored" / "copy.sqlite3"
    target.parent.mkdir()
    with open(dump, "rb") as fh:
        engine.restore(conn_for(target), fh, timeout=30, workdir=workdir)

    assert table_digests(target) == table_digests(source)
    assert table_digests(target)["people"][0] == 3
    assert {("index", "events_person_at"), ("view", "people_with_events")} <= schema(target)
    db = sqlite3.connect(target)
    assert db.execute("SELECT photo FROM people WHERE name = 'big'").fetchone()[0] == BIG
    assert db.execute("SELECT photo, note FROM people WHERE name = '李小龙'").fetchone() == (None, None)
    db.close()


def test_it_includes_committed_data_still_in_the_write_ahead_log(engine, tmp_path, workdir):
    source = tmp_path / "wal.sqlite3"
    make_source(source, wal=True)
    holder = sqlite3.connect(source)  # keeps the WAL from being checkpointed away on close
    holder.execute("PRAGMA wal_autocheckpoint=0")
    holder.execute("INSERT INTO people (name) VALUES ('only in the wal')")
    holder.commit()
    assert os.path.getsize(f"{source}-wal") > 0

    dump = tmp_path / "dump.sqlite3"
    drain(engine.dump(conn_for(source), timeout=30, workdir=workdir), dump)
    holder.close()

    db = sqlite3.connect(dump)
    assert db.execute("SELECT count(*) FROM people WHERE name = 'only in the wal'").fetchone() == (1,)
    db.close()


def test_it_removes_its_snapshot_after_finish_and_after_abort(engine, source, tmp_path, workdir):
    stream = engine.dump(conn_for(source), timeout=30, workdir=workdir)
    assert len(list(workdir.iterdir())) == 1
    snapshot = next(workdir.iterdir())
    assert snapshot.stat().st_mode & 0o777 == 0o600
    drain(stream, tmp_path / "dump")
    assert list(workdir.iterdir()) == []

    stream = engine.dump(conn_for(source), timeout=30, workdir=workdir)
    stream.read(100)
    stream.abort()
    stream.abort()  # safe twice
    assert list(workdir.iterdir()) == []
    assert stream.read(100) == b""


def test_it_reports_a_missing_source_file(engine, tmp_path, workdir):
    with pytest.raises(EngineError, match="does not exist"):
        engine.dump(conn_for(tmp_path / "nope.sqlite3"), timeout=30, workdir=workdir)


def test_it_refuses_to_dump_a_file_that_is_not_sqlite(engine, tmp_path, workdir):
    path = tmp_path / "text.sqlite3"
    path.write_text("hello")
    with pytest.raises(EngineError, match="not a SQLite database"):
        engine.dump(conn_for(path), timeout=30, workdir=workdir)


def test_it_times_out_a_slow_snapshot_and_leaves_nothing_in_workdir(engine, source, workdir):
    with pytest.raises(EngineError, match="timed out after 0 s"):
        engine.dump(conn_for(source), timeout=0, workdir=workdir)
    assert list(workdir.iterdir()) == []


def test_it_replaces_an_existing_target_and_keeps_its_permissions(engine, source, tmp_path, workdir):
    target = tmp_path / "target.sqlite3"
    db = sqlite3.connect(target)
    db.execute("CREATE TABLE old (x)")
    db.commit()
    db.close()
    target.chmod(0o640)
    dump = tmp_path / "dump"
    drain(engine.dump(conn_for(source), timeout=30, workdir=workdir), dump)

    with open(dump, "rb") as fh:
        engine.restore(conn_for(target), fh, timeout=30, workdir=workdir)

    assert ("table", "old") not in schema(target)
    assert table_digests(target) == table_digests(source)
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")) == []


def test_it_replaces_a_target_in_wal_mode_without_replaying_its_old_log(engine, source, tmp_path, workdir):
    target = tmp_path / "target.sqlite3"
    make_source(target, wal=True)
    db = sqlite3.connect(target)
    db.execute("INSERT INTO people (name) VALUES ('stale')")
    db.commit()
    db.close()
    dump = tmp_path / "dump"
    drain(engine.dump(conn_for(source), timeout=30, workdir=workdir), dump)

    with open(dump, "rb") as fh:
        engine.restore(conn_for(target), fh, timeout=30, workdir=workdir)

    assert table_digests(target) == table_digests(source)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"this is not a database at all" * 100, "not a SQLite database"),
        (b"", "empty"),
        (b"SQLite format 3\x00" + b"\xde\xad" * 5000, "not a valid SQLite database"),
    ],
)
def test_it_refuses_a_bad_backup_and_leaves_the_target_untouched(
    engine, source, tmp_path, workdir, payload, message
):
    before = source.read_bytes()
    with pytest.raises(EngineError, match=message):
        engine.restore(conn_for(source), io.BytesIO(payload), timeout=30, workdir=workdir)
    assert source.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if ".partial" in p.name] == []


def test_it_refuses_a_truncated_backup(engine, source, tmp_path, workdir):
    dump = tmp_path / "dump"
    drain(engine.dump(conn_for(source), timeout=30, workdir=workdir), dump)
    data = dump.read_bytes()
    target = tmp_path / "target.sqlite3"
    with pytest.raises(EngineError):
        engine.restore(conn_for(target), io.BytesIO(data[: len(data) // 2]), timeout=30, workdir=workdir)
    assert not target.exists()


def test_it_refuses_a_target_whose_folder_does_not_exist(engine, tmp_path, workdir):
    target = tmp_path / "missing" / "db.sqlite3"
    with pytest.raises(EngineError, match="does not exist"):
        engine.restore(conn_for(target), io.BytesIO(b"x"), timeout=30, workdir=workdir)


def test_it_streams_the_restore_in_chunks_instead_of_reading_the_source_whole(
    engine, source, tmp_path, workdir
):
    dump = tmp_path / "dump"
    drain(engine.dump(conn_for(source), timeout=30, workdir=workdir), dump)

    class Recorder(io.FileIO):
        sizes: ClassVar[list[int]] = []

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    with Recorder(dump, "rb") as fh:
        engine.restore(conn_for(tmp_path / "t.sqlite3"), fh, timeout=30, workdir=workdir)
    assert Recorder.sizes and all(0 < s <= 1024 * 1024 for s in Recorder.sizes)
