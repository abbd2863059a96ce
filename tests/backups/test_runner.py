"""run_backup / run_restore end to end: the real SQLite engine (and PostgreSQL / MariaDB
when bin/test started them), real files in temp folders."""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from apps.backups import restore as restore_module
from apps.backups import runner
from apps.backups.models import Backup, BackupCopy, Restore
from apps.backups.restore import run_restore
from apps.backups.verification import verify_now
from apps.engines import get_engine
from apps.engines.base import DumpStream, EngineError
from tests.backups.conftest import file_sha256, make_sqlite_file, table_digest
from tests.backups.test_pipeline import ProcessDump


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def flip_byte(path: str, offset: int | None = None) -> None:
    data = bytearray(Path(path).read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    Path(path).write_bytes(bytes(data))


class FakeEngine:
    """Stands in for an engine whose tool misbehaves (killed, hanging)."""

    extension = "dump"
    empty_dump_floor = 1

    def __init__(self, make_stream=None, restore=None):
        self._make_stream = make_stream
        self._restore = restore
        self.workdirs: list[tuple[Path, int]] = []

    def dump(self, conn, *, timeout, workdir):
        self.workdirs.append((workdir, stat.S_IMODE(os.stat(workdir).st_mode)))
        return self._make_stream()

    def restore(self, conn, source, *, timeout, workdir):
        self.workdirs.append((workdir, stat.S_IMODE(os.stat(workdir).st_mode)))
        return self._restore(source)


@pytest.fixture
def fake_engine(monkeypatch):
    def install(**kwargs) -> FakeEngine:
        engine = FakeEngine(**kwargs)
        monkeypatch.setattr(runner, "get_engine", lambda name: engine)
        monkeypatch.setattr(restore_module, "get_engine", lambda name: engine)
        return engine

    return install


# -- backups -------------------------------------------------------------------------


def test_it_writes_identical_files_to_three_destinations(
    sqlite_database, make_destination, make_backup, private_tmp
):
    dests = [make_destination(sqlite_database) for _ in range(3)]
    backup = runner.run_backup(make_backup(sqlite_database))

    backup.refresh_from_db()
    assert backup.status == Backup.Status.COMPLETED, backup.error
    assert backup.error == ""
    assert backup.started_at and backup.finished_at and backup.heartbeat_at
    assert re.fullmatch(rf"orders-db_\d{{8}}T\d{{6}}Z_{backup.pk}\.sqlite3\.zst", backup.file_name)
    assert backup.compression == "zstd"
    assert backup.bytes_done == backup.size_bytes > 0
    copies = list(backup.copies.order_by("id"))
    assert [c.destination_id for c in copies] == [d.pk for d in dests]
    for dest, copy in zip(dests, copies, strict=True):
        assert copy.status == BackupCopy.Status.COMPLETED
        assert copy.location == os.path.join(dest.path, backup.file_name)
        assert copy.size_bytes == backup.size_bytes
        assert file_sha256(copy.location) == backup.checksum_sha256
        assert files_in(Path(dest.path)) == [backup.file_name, backup.file_name + ".manifest.json"]
    assert list(private_tmp.iterdir()) == []  # the private workdir is gone


@pytest.mark.parametrize(
    "compression,suffix", [("none", ".sqlite3"), ("gzip", ".sqlite3.gz"), ("zstd", ".sqlite3.zst")]
)
def test_a_backup_restores_into_a_fresh_database(
    sqlite_database, make_database, make_destination, make_backup, tmp_path, compression, suffix
):
    sqlite_database.compression = compression
    sqlite_database.save()
    make_destination(sqlite_database)
    make_destination(sqlite_database)
    backup = runner.run_backup(make_backup(sqlite_database))
    assert backup.status == Backup.Status.COMPLETED
    assert backup.file_name.endswith(suffix)

    target = make_database(database_name=str(tmp_path / "restored.sqlite3"))
    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    restore.refresh_from_db()
    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert restore.bytes_done == backup.size_bytes
    assert restore.source_copy_id == backup.copies.order_by("id").first().pk
    assert table_digest(target.database_name) == table_digest(sqlite_database.database_name)


def test_a_destination_folder_replaced_by_a_file_makes_the_backup_partial(
    sqlite_database, make_destination, make_backup
):
    good = make_destination(sqlite_database, name="good")
    bad = make_destination(sqlite_database, name="bad")
    os.rmdir(bad.path)
    Path(bad.path).write_text("I am a file now")

    backup = runner.run_backup(make_backup(sqlite_database))

    assert backup.status == Backup.Status.PARTIAL
    assert "1 of 2 destinations failed: bad: Cannot create" in backup.error
    assert "Not a directory" in backup.error
    bad_copy = backup.copies.get(destination=bad)
    assert bad_copy.status == BackupCopy.Status.FAILED and "Not a directory" in bad_copy.error
    good_copy = backup.copies.get(destination=good)
    assert good_copy.status == BackupCopy.Status.COMPLETED
    assert [r["status"] for r in verify_now(backup).results] == ["ok"]
    assert file_sha256(good_copy.location) == backup.checksum_sha256


def test_a_vanished_sqlite_file_fails_the_backup_and_leaves_no_file(
    sqlite_database, make_destination, make_backup
):
    dests = [make_destination(sqlite_database) for _ in range(2)]
    os.unlink(sqlite_database.database_name)

    backup = runner.run_backup(make_backup(sqlite_database))

    assert backup.status == Backup.Status.FAILED
    assert backup.error == f"sqlite: file {sqlite_database.database_name} does not exist"
    assert backup.size_bytes is None and backup.checksum_sha256 == ""
    assert all(files_in(Path(d.path)) == [] for d in dests)
    assert set(backup.copies.values_list("status", flat=True)) == {BackupCopy.Status.FAILED}


def test_no_enabled_destination_fails_the_backup(sqlite_database, make_destination, make_backup):
    disabled = make_destination(sqlite_database, enabled=False)

    backup = runner.run_backup(make_backup(sqlite_database))

    assert backup.status == Backup.Status.FAILED
    assert backup.error == "no enabled destination"
    assert files_in(Path(disabled.path)) == []
    assert backup.copies.count() == 0


def test_a_dump_killed_mid_run_fails_and_leaves_no_file(
    sqlite_database, make_destination, make_backup, fake_engine
):
    dests = [make_destination(sqlite_database) for _ in range(2)]
    streams = []

    def start():
        stream = ProcessDump("head -c 4000000 /dev/urandom; sleep 30")
        streams.append(stream)
        return stream

    fake_engine(make_stream=start)

    def kill_once_partials_grow():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            partials = [p for d in dests for p in Path(d.path).glob("*.partial")]
            if partials and all(p.stat().st_size > 0 for p in partials):
                break
            time.sleep(0.01)
        os.killpg(streams[0].proc.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_once_partials_grow)
    killer.start()
    backup = runner.run_backup(make_backup(sqlite_database))
    killer.join()

    assert backup.status == Backup.Status.FAILED
    assert backup.error.startswith("tool exited with status -9")
    assert all(files_in(Path(d.path)) == [] for d in dests)  # no final file, no .partial
    assert set(backup.copies.values_list("status", flat=True)) == {BackupCopy.Status.FAILED}


def test_a_hanging_dump_is_stopped_at_the_database_timeout(
    sqlite_database, make_destination, make_backup, fake_engine
):
    sqlite_database.timeout_seconds = 1
    sqlite_database.save()
    dest = make_destination(sqlite_database)
    fake_engine(make_stream=lambda: ProcessDump("head -c 100000 /dev/urandom; sleep 60"))
    started = time.monotonic()

    backup = runner.run_backup(make_backup(sqlite_database))

    assert time.monotonic() - started < 10
    assert backup.status == Backup.Status.FAILED
    assert backup.error == "Dump timed out after 1 s"
    assert files_in(Path(dest.path)) == []


def test_the_engine_gets_a_private_workdir_that_is_removed(
    sqlite_database, make_destination, make_backup, fake_engine
):
    make_destination(sqlite_database)

    class Empty(DumpStream):
        def read(self, size):
            return b""

        def finish(self):
            pass

        def abort(self):
            pass

    engine = fake_engine(make_stream=Empty)
    backup = runner.run_backup(make_backup(sqlite_database))

    # An empty dump is never a success (it would crowd good backups out of retention).
    assert backup.status == Backup.Status.FAILED
    assert backup.error.startswith("The dump has only 0 bytes")
    ((workdir, mode),) = engine.workdirs
    assert mode == 0o700
    assert not workdir.exists()


def test_progress_and_heartbeat_are_saved_during_the_run(
    sqlite_database, make_destination, make_backup, monkeypatch
):
    from apps.backups import pipeline

    monkeypatch.setattr(pipeline, "PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 4096)
    make_destination(sqlite_database)
    seen = []

    backup = runner.run_backup(make_backup(sqlite_database), on_progress=seen.append)

    assert len(seen) > 1
    assert seen[-1] == backup.size_bytes


def test_a_finished_backup_is_not_run_again(sqlite_database, make_destination, make_backup):
    make_destination(sqlite_database)
    backup = make_backup(sqlite_database, status=Backup.Status.FAILED, error="earlier")

    assert runner.run_backup(backup).error == "earlier"
    assert backup.copies.count() == 0


# -- restores ------------------------------------------------------------------------


@pytest.fixture
def completed_backup(sqlite_database, make_destination, make_backup):
    make_destination(sqlite_database, name="first")
    make_destination(sqlite_database, name="second")
    backup = runner.run_backup(make_backup(sqlite_database))
    assert backup.status == Backup.Status.COMPLETED
    return backup


@pytest.fixture
def target(make_database, tmp_path):
    path = make_sqlite_file(tmp_path / "target.sqlite3", rows=3)
    return make_database(name="target", database_name=str(path))


def test_a_corrupt_copy_is_never_restored(completed_backup, target):
    for copy in completed_backup.copies.all():
        flip_byte(copy.location)
    before = table_digest(target.database_name)

    restore = run_restore(Restore.objects.create(backup=completed_backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    first, second = completed_backup.copies.order_by("id")
    # One pass per copy (the restore is atomic): each was tried, each refused, the target untouched.
    assert restore.error == (
        f"The copy at {first.location} cannot be decompressed: zstd data is corrupt or truncated: "
        f"zstd decompress error: Data corruption detected; The copy at {second.location} cannot be "
        "decompressed: zstd data is corrupt or truncated: zstd decompress error: Data corruption detected"
    )
    assert table_digest(target.database_name) == before


def test_a_copy_whose_checksum_differs_is_refused_before_the_target_changes_and_the_next_is_used(
    sqlite_database, make_destination, make_backup, target
):
    sqlite_database.compression = "none"  # no codec to notice: only the whole-copy sha256 can
    sqlite_database.save()
    make_destination(sqlite_database, name="first")
    make_destination(sqlite_database, name="second")
    backup = runner.run_backup(make_backup(sqlite_database))
    first, second = backup.copies.order_by("id")
    flip_byte(first.location, offset=-100)  # same size, a valid-looking file

    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert restore.source_copy_id == second.pk
    assert table_digest(target.database_name) == table_digest(sqlite_database.database_name)


def test_a_chosen_copy_whose_checksum_differs_leaves_the_target_as_it_was(
    sqlite_database, make_destination, make_backup, target
):
    sqlite_database.compression = "none"
    sqlite_database.save()
    make_destination(sqlite_database, name="only")
    backup = runner.run_backup(make_backup(sqlite_database))
    copy = backup.copies.get()
    flip_byte(copy.location, offset=-100)
    before = table_digest(target.database_name)

    restore = run_restore(Restore.objects.create(backup=backup, target_database=target, source_copy=copy))

    assert restore.status == Restore.Status.FAILED
    assert restore.error == (
        f"The copy at {copy.location} is corrupt (its size or sha256 differs from the record); "
        "the restore was stopped before its end, so the target was not changed"
    )
    assert table_digest(target.database_name) == before


def test_a_chosen_corrupt_copy_is_refused_even_when_another_is_good(completed_backup, target):
    first = completed_backup.copies.order_by("id").first()
    flip_byte(first.location)

    restore = run_restore(
        Restore.objects.create(backup=completed_backup, target_database=target, source_copy=first)
    )

    assert restore.status == Restore.Status.FAILED
    assert restore.error.startswith(f"The copy at {first.location} cannot be decompressed")
    assert restore.source_copy_id == first.pk  # a chosen copy is not swapped for another


def test_a_truncated_copy_is_refused_with_its_size(completed_backup, target):
    first = completed_backup.copies.order_by("id").first()
    data = Path(first.location).read_bytes()
    Path(first.location).write_bytes(data[:-10])

    restore = run_restore(
        Restore.objects.create(backup=completed_backup, target_database=target, source_copy=first)
    )

    assert restore.error == (
        f"Copy at {first.location} is corrupt: size {len(data) - 10} differs from the recorded {len(data)}"
    )


def test_without_a_chosen_copy_the_first_intact_one_is_used(completed_backup, target, sqlite_database):
    first, second = completed_backup.copies.order_by("id")
    os.unlink(first.location)

    restore = run_restore(Restore.objects.create(backup=completed_backup, target_database=target))

    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert restore.source_copy_id == second.pk
    assert table_digest(target.database_name) == table_digest(sqlite_database.database_name)


def test_a_restore_whose_tool_fails_is_failed_with_the_tools_message(
    completed_backup, make_database, tmp_path
):
    target = make_database(database_name=str(tmp_path / "no-such-folder" / "x.sqlite3"))

    restore = run_restore(Restore.objects.create(backup=completed_backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    assert restore.error == f"sqlite: folder {tmp_path / 'no-such-folder'} does not exist"


def test_a_copy_changed_during_the_restore_fails_it(
    sqlite_database, make_destination, make_backup, target, fake_engine
):
    sqlite_database.compression = "none"  # the engine reads the file itself, byte by byte
    sqlite_database.save()
    db = sqlite3.connect(sqlite_database.database_name)
    with db:  # larger than what the restore reads ahead (a few MiB)
        db.execute("INSERT INTO items (name, data) VALUES ('huge', ?)", (os.urandom(16 << 20),))
    db.close()
    make_destination(sqlite_database)
    backup = runner.run_backup(make_backup(sqlite_database))
    copy = backup.copies.get()

    def restore_then_tamper(source):
        source.read(10)
        flip_byte(copy.location, offset=-5)  # the reader has not reached that byte yet
        while source.read(65536):
            pass

    fake_engine(restore=restore_then_tamper)
    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    assert restore.error.startswith(f"The copy at {copy.location} changed while it was being restored")


def test_an_engine_error_is_never_reported_as_completed(completed_backup, target, fake_engine):
    def fail(source):
        source.read(100)
        raise EngineError("pg_restore: error: could not execute query: ERROR:  relation exists")

    fake_engine(restore=fail)
    restore = run_restore(Restore.objects.create(backup=completed_backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    assert restore.error == "pg_restore: error: could not execute query: ERROR:  relation exists"


def test_a_slow_restore_is_stopped_at_the_timeout(completed_backup, target, fake_engine):
    target.timeout_seconds = 1
    target.save()

    def slow(source):
        while source.read(16):
            time.sleep(0.2)

    engine = fake_engine(restore=slow)
    restore = run_restore(Restore.objects.create(backup=completed_backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    assert restore.error == "Restore timed out after 1 s"
    ((workdir, mode),) = engine.workdirs
    assert mode == 0o700 and not workdir.exists()


def test_a_failed_backup_cannot_be_restored(sqlite_database, make_backup, target):
    backup = make_backup(sqlite_database, status=Backup.Status.FAILED)

    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    assert restore.error == f"Backup #{backup.pk} is failed; it cannot be restored"


# -- PostgreSQL (bin/test) -------------------------------------------------------------

PG_SETUP = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, note text, photo bytea);
CREATE INDEX customers_name ON customers(name);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(12,2),
                     placed_at timestamptz DEFAULT now());
CREATE VIEW big_customers AS SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id
    GROUP BY c.name;
INSERT INTO customers (name, note, photo)
    SELECT 'клиент ' || i || ' — ☃', CASE WHEN i % 3 = 0 THEN NULL ELSE md5(i::text) END,
           decode(repeat(to_hex(i % 256), 32), 'hex')
    FROM generate_series(1, 500) i;
INSERT INTO customers (name, note) VALUES ('big', repeat('x', 1500000));
INSERT INTO orders (customer_id, total) SELECT 1 + i % 500, i * 1.25 FROM generate_series(1, 2000) i;
"""

PG_DIGEST = """
SELECT (SELECT count(*) FROM customers), (SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c),
       (SELECT count(*) FROM orders), (SELECT md5(string_agg(o.id || ':' || o.total, ',' ORDER BY id)) FROM orders o),
       (SELECT count(*) FROM big_customers)
"""


def pg_db(make_database, pg_server, name, **overrides):
    fields = {
        "engine": "postgresql",
        "host": pg_server["host"],
        "port": int(pg_server["port"]),
        "username": pg_server["user"],
        "password": pg_server["password"],
        "database_name": name,
    }
    fields.update(overrides)
    return make_database(**fields)


def pg_digest(pg_database, name):
    conn = pg_database.connect(name)
    try:
        with conn.cursor() as cur:
            cur.execute(PG_DIGEST)
            return cur.fetchone()
    finally:
        conn.close()


@pytest.mark.servers
def test_postgresql_round_trip_through_two_destinations(
    pg_server, pg_database, make_database, make_destination, make_backup, caplog
):
    caplog.set_level(logging.DEBUG)
    source_name = pg_database("bm_src")
    conn = pg_database.connect(source_name)
    with conn.cursor() as cur:
        cur.execute(PG_SETUP)
    conn.close()
    source = pg_db(make_database, pg_server, source_name)
    make_destination(source)
    make_destination(source)

    backup = runner.run_backup(make_backup(source))

    assert backup.status == Backup.Status.COMPLETED, backup.error
    assert backup.file_name.endswith(".dump.zst")
    shas = {file_sha256(c.location) for c in backup.copies.all()}
    assert shas == {backup.checksum_sha256}

    target_name = pg_database("bm_dst")
    target = pg_db(make_database, pg_server, target_name)
    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert pg_digest(pg_database, target_name) == pg_digest(pg_database, source_name)
    assert pg_server["password"] not in caplog.text


@pytest.mark.servers
def test_postgresql_wrong_password_fails_without_leaking_it(
    pg_server, pg_database, make_database, make_destination, make_backup, caplog
):
    caplog.set_level(logging.DEBUG)
    name = pg_database("bm_src")
    secret = "Wr0ng-Secret-Value-42"
    source = pg_db(make_database, pg_server, name, password=secret)
    dest = make_destination(source)

    backup = runner.run_backup(make_backup(source))

    assert backup.status == Backup.Status.FAILED
    assert "authentication failed" in backup.error.lower()
    assert secret not in backup.error and secret not in caplog.text
    assert files_in(Path(dest.path)) == []


@pytest.mark.servers
def test_postgresql_restore_into_a_missing_database_fails_with_the_tools_message(
    pg_server, pg_database, make_database, make_destination, make_backup
):
    source_name = pg_database("bm_src")
    conn = pg_database.connect(source_name)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int)")
    conn.close()
    source = pg_db(make_database, pg_server, source_name)
    make_destination(source)
    backup = runner.run_backup(make_backup(source))
    assert backup.status == Backup.Status.COMPLETED, backup.error

    target = pg_db(make_database, pg_server, "bm_no_such_database_here")
    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    assert "bm_no_such_database_here" in restore.error
    assert "does not exist" in restore.error
    assert pg_server["password"] not in restore.error


# -- MariaDB (bin/test) ----------------------------------------------------------------

MYSQL_SETUP = [
    "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, note TEXT NULL,"
    " photo BLOB NULL, big LONGTEXT NULL, INDEX customers_name (name)) CHARACTER SET utf8mb4",
    "CREATE VIEW named AS SELECT id, name FROM customers",
]


@pytest.mark.servers
def test_mysql_round_trip_through_two_destinations(
    mysql_server, mysql_database, make_database, make_destination, make_backup, caplog
):
    if not hasattr(get_engine("mysql"), "dump"):
        pytest.skip("the MySQL engine has no dump yet")
    caplog.set_level(logging.DEBUG)
    source_name = mysql_database("bm_src")
    conn = mysql_database.connect(source_name)
    cur = conn.cursor()
    for statement in MYSQL_SETUP:
        cur.execute(statement)
    cur.executemany(
        "INSERT INTO customers (name, note, photo) VALUES (%s, %s, %s)",
        [(f"клиент {i} — ☃", None if i % 3 == 0 else f"n{i}", bytes([i % 256]) * 40) for i in range(300)],
    )
    cur.execute("INSERT INTO customers (name, big) VALUES ('big', REPEAT('x', 1500000))")
    conn.close()

    def fields(name):
        return {
            "engine": "mysql",
            "host": mysql_server["host"],
            "port": int(mysql_server["port"]),
            "username": mysql_server["user"],
            "password": mysql_server["password"],
            "database_name": name,
        }

    source = make_database(**fields(source_name))
    make_destination(source)
    make_destination(source)
    backup = runner.run_backup(make_backup(source))
    assert backup.status == Backup.Status.COMPLETED, backup.error
    assert {file_sha256(c.location) for c in backup.copies.all()} == {backup.checksum_sha256}

    target_name = mysql_database("bm_dst")
    target = make_database(**fields(target_name))
    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))
    assert restore.status == Restore.Status.COMPLETED, restore.error

    def digest(name):
        conn = mysql_database.connect(name)
        try:
            cur = conn.cursor()
            cur.execute("SELECT id, name, note, photo, big FROM customers ORDER BY id")
            rows = cur.fetchall()
            cur.execute("SELECT count(*) FROM named")
            return len(rows), hash(rows), cur.fetchone()
        finally:
            conn.close()

    assert digest(target_name) == digest(source_name)
    assert mysql_server["password"] not in caplog.text


def test_a_missing_dump_tool_fails_the_backup_naming_it(
    make_database, make_destination, make_backup, tmp_path, monkeypatch
):
    from apps.engines.postgresql import PostgresEngine

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(PostgresEngine, "fallback_globs", ())
    db = make_database(
        engine="postgresql", host="127.0.0.1", port=5432, username="u", password="pw", database_name="app"
    )
    dest = make_destination(db)

    backup = runner.run_backup(make_backup(db))

    assert backup.status == Backup.Status.FAILED
    assert backup.error.startswith("pg_dump not found")
    assert files_in(Path(dest.path)) == []


def test_a_cancelled_restore_stops_before_touching_the_target(completed_backup, target):
    before = table_digest(target.database_name)
    cancel = threading.Event()
    cancel.set()

    restore = run_restore(
        Restore.objects.create(backup=completed_backup, target_database=target), cancel=cancel
    )

    assert restore.status == Restore.Status.FAILED
    assert restore.error == "Restore cancelled"
    assert table_digest(target.database_name) == before


def test_a_cancelled_backup_leaves_no_file(sqlite_database, make_destination, make_backup):
    dest = make_destination(sqlite_database)
    cancel = threading.Event()
    cancel.set()

    backup = runner.run_backup(make_backup(sqlite_database), cancel=cancel)

    assert backup.status == Backup.Status.FAILED
    assert backup.error == "Backup cancelled"
    assert files_in(Path(dest.path)) == []


@pytest.mark.servers
def test_a_postgresql_restore_of_a_corrupt_copy_rolls_back_and_leaves_the_target_as_it_was(
    pg_server, pg_database, make_database, make_destination, make_backup
):
    source_name, target_name = pg_database("bm_src"), pg_database("bm_dst")
    for name, rows in ((source_name, 3000), (target_name, 7)):
        conn = pg_database.connect(name)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id int primary key, v text)")
            cur.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, %s) g", [rows])
        conn.close()
    source = pg_db(make_database, pg_server, source_name, compression="none")
    target = pg_db(make_database, pg_server, target_name)
    make_destination(source)
    backup = runner.run_backup(make_backup(source))
    assert backup.status == "completed", backup.error
    copy = backup.copies.get()
    flip_byte(copy.location, offset=-3)  # the last block: pg_restore has applied almost everything

    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    assert "is corrupt" in restore.error and "the target was not changed" in restore.error
    conn = pg_database.connect(target_name)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchone() == (7,)  # one transaction, rolled back: the old data is all there
    conn.close()


def test_a_failed_restore_names_the_missing_copies_beside_the_one_it_tried(
    sqlite_database, make_destination, make_backup, target
):
    sqlite_database.compression = "none"
    sqlite_database.save()
    make_destination(sqlite_database, name="first")
    make_destination(sqlite_database, name="second")
    backup = runner.run_backup(make_backup(sqlite_database))
    first, second = backup.copies.order_by("id")
    os.unlink(first.location)
    flip_byte(second.location, offset=-100)

    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    assert restore.error.startswith(
        f"File {first.location} is missing; The copy at {second.location} is corrupt"
    )
