"""MySQL/MariaDB restores are all or nothing: a scratch database, then one RENAME TABLE into the target."""

from __future__ import annotations

import dataclasses
import io

import pytest

from apps.engines import get_engine
from apps.engines.base import EngineError
from apps.engines.mysql_swap import OLD_MARK, SCRATCH_MARK, is_scratch_of, scratch_name

from .helpers import drain
from .test_mysql import connect, digests, fill, objects

pytestmark = pytest.mark.servers


@pytest.fixture
def engine():
    return get_engine("mysql")


@pytest.fixture
def dump(engine, mysql_databases, tmp_path, workdir) -> bytes:
    source = mysql_databases("bm_src")
    fill(source)
    path = tmp_path / "db.sql"
    drain(engine.dump(source, timeout=60, workdir=workdir), path)
    return path.read_bytes()


@pytest.fixture
def target(mysql_databases):
    """A target holding its own data: an older `people`, a table and objects the backup does not have."""
    conn = mysql_databases("bm_dst")
    connection = connect(conn)
    cur = connection.cursor()
    for statement in (
        "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(100), extra INT)",
        "INSERT INTO people VALUES (1, 'old one', 7), (2, 'old two', 8)",
        "CREATE TABLE keepme (id INT PRIMARY KEY, v VARCHAR(20))",
        "INSERT INTO keepme VALUES (1, 'mine')",
        "CREATE VIEW old_view AS SELECT id FROM keepme",
        "CREATE TRIGGER keepme_trigger BEFORE INSERT ON keepme FOR EACH ROW SET NEW.v = UPPER(NEW.v)",
        "CREATE PROCEDURE old_procedure() SELECT 1",
    ):
        cur.execute(statement)
    connection.close()
    return conn


def server_databases(conn) -> list[str]:
    connection = connect(conn, database="")
    try:
        cur = connection.cursor()
        cur.execute("SHOW DATABASES")
        return [r[0] for r in cur.fetchall()]
    finally:
        connection.close()


def leftovers(conn) -> list[str]:
    """Scratch databases of this target, and renamed old tables inside it."""
    names = [n for n in server_databases(conn) if SCRATCH_MARK in n and n.startswith(conn.database_name)]
    return names + [t for t in digests(conn) if t.startswith(OLD_MARK)]


def state(conn):
    return digests(conn), objects(conn)


class FailsAtTheEnd(io.RawIOBase):
    """Delivers all but the last bytes, then raises, as the restore's checksum check does."""

    def __init__(self, data: bytes, keep: int = 100):
        self._data = io.BytesIO(data[:-keep])

    def readable(self):
        return True

    def read(self, size=-1):
        chunk = self._data.read(size)
        if not chunk:
            raise OSError("The copy is corrupt (its sha256 differs from the record)")
        return chunk


def test_a_restore_replaces_the_tables_in_the_backup_and_keeps_the_others(engine, dump, target, workdir):
    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir)

    got = digests(target)
    assert set(got) == {"people", "events", "audit", "people_with_events", "keepme", "old_view"}
    assert got["people"][0] == 3 and got["events"][0] == 2000
    assert got["keepme"][0] == 1
    got_objects = objects(target)
    assert got_objects["triggers"] == {"people_audit", "keepme_trigger"}
    assert got_objects["routines"] == {"count_people", "old_procedure"}
    assert got_objects["events"] == {"nightly"}
    assert leftovers(target) == []
    # The restored trigger works in the target (it writes to the target's audit table).
    connection = connect(target)
    cur = connection.cursor()
    cur.execute("INSERT INTO people (name) VALUES ('new')")
    cur.execute("SELECT count(*) FROM audit")
    assert cur.fetchone() == (4,)
    connection.close()


def test_a_clean_restore_leaves_nothing_that_is_not_in_the_backup(engine, dump, target, workdir):
    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir, clean=True)

    assert set(digests(target)) == {"people", "events", "audit", "people_with_events"}
    assert objects(target)["triggers"] == {"people_audit"}
    assert objects(target)["routines"] == {"count_people"}
    assert leftovers(target) == []


def test_a_stream_refused_at_its_end_leaves_the_target_exactly_as_it_was(engine, dump, target, workdir):
    before = state(target)

    with pytest.raises(OSError, match="is corrupt"):
        engine.restore(target, FailsAtTheEnd(dump), timeout=60, workdir=workdir)

    assert state(target) == before
    assert leftovers(target) == []
    assert list(workdir.iterdir()) == []


def test_a_tool_that_fails_half_way_leaves_the_target_as_it_was(engine, dump, target, workdir):
    before = state(target)
    half = dump[: len(dump) // 2]
    broken = half[: half.rindex(b";\n") + 2] + b"INSERT INTO no_such_table VALUES (1);\n" + dump[len(half) :]

    with pytest.raises(EngineError, match="(?s)^mariadb failed .*no_such_table"):
        engine.restore(target, io.BytesIO(broken), timeout=60, workdir=workdir)

    assert state(target) == before
    assert leftovers(target) == []


def test_a_kept_table_whose_foreign_key_would_dangle_stops_the_restore_before_any_change(
    engine, dump, target, workdir
):
    connection = connect(target)
    connection.cursor().execute(
        "CREATE TABLE notes (id INT PRIMARY KEY, person_id INT, FOREIGN KEY (person_id) REFERENCES people (id))"
    )
    connection.close()
    before = state(target)

    with pytest.raises(EngineError, match="table notes is not in the backup.*The target was not changed"):
        engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir)

    assert state(target) == before
    assert leftovers(target) == []
    # A clean restore replaces notes too.
    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir, clean=True)
    assert "notes" not in digests(target)


def test_what_a_killed_restore_left_is_removed_by_the_next_one(engine, dump, target, workdir):
    leftover = scratch_name(target.database_name)
    connection = connect(target, database="")
    cur = connection.cursor()
    cur.execute(f"CREATE DATABASE `{leftover}`")
    cur.execute(f"CREATE TABLE `{target.database_name}`.`{OLD_MARK}0badc0de_0` (id INT)")
    connection.close()

    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir)

    assert leftover not in server_databases(target)
    assert leftovers(target) == []


def test_a_missing_target_database_fails_before_anything_is_created(engine, dump, target, workdir):
    missing = dataclasses.replace(target, database_name="bm_no_such_db_here")
    with pytest.raises(EngineError, match="database 'bm_no_such_db_here' does not exist"):
        engine.restore(missing, io.BytesIO(dump), timeout=60, workdir=workdir)
    assert not [n for n in server_databases(target) if n.startswith("bm_no_such_db_here")]


def test_scratch_names_fit_the_64_character_limit_and_name_their_target():
    long = "x" * 64
    name = scratch_name(long)
    assert len(name) <= 64 and is_scratch_of(name, long)
    assert not is_scratch_of(scratch_name("x" * 63), long)
    assert is_scratch_of(scratch_name("shop"), "shop") and not is_scratch_of(scratch_name("shop"), "sho")


CHILD = """
import io, sys, time
sys.path.insert(0, {root!r})
from apps.engines.base import ConnectionInfo
from apps.engines.mysql import MySQLEngine

data = open({dump!r}, "rb").read()

class HalfThenHang(io.RawIOBase):
    def __init__(self):
        self.pos = 0
    def readable(self):
        return True
    def read(self, size=-1):
        if self.pos >= len(data) // 2:
            time.sleep(3600)  # killed here, half-way through the load
        chunk = data[self.pos : min(self.pos + 65536, len(data) // 2)]
        self.pos += len(chunk)
        return chunk

conn = ConnectionInfo(engine="mysql", host={host!r}, port={port}, database_name={db!r}, username={user!r},
                      password=sys.stdin.readline().rstrip("\\n"))
MySQLEngine().restore(conn, HalfThenHang(), timeout=600, workdir=__import__("pathlib").Path({workdir!r}))
"""


def test_a_restore_killed_half_way_leaves_the_target_as_it_was_and_the_next_one_cleans_up(
    engine, dump, target, tmp_path, workdir
):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.polling import wait_until

    path = tmp_path / "dump.sql"
    path.write_bytes(dump)
    before = state(target)
    script = CHILD.format(
        root=str(Path(__file__).resolve().parents[2]),
        dump=str(path),
        host=target.host,
        port=target.port,
        db=target.database_name,
        user=target.username,
        workdir=str(workdir),
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, text=True, start_new_session=True
    )
    child.stdin.write(target.password + "\n")
    child.stdin.close()
    try:
        wait_until(lambda: leftovers(target), timeout=60, what="the scratch database to appear")
        wait_until(lambda: _scratch_tables(target), timeout=60, what="the load to reach the scratch database")
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the worker dies: no finally, no cleanup
        child.wait(10)

    assert state(target) == before
    assert leftovers(target)  # what the killed restore left
    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir)
    assert leftovers(target) == []
    assert digests(target)["events"][0] == 2000


def _scratch_tables(conn) -> list:
    names = [n for n in server_databases(conn) if SCRATCH_MARK in n and n.startswith(conn.database_name)]
    if not names:
        return []
    connection = connect(conn, database=names[0])
    try:
        cur = connection.cursor()
        cur.execute("SHOW TABLES")
        return list(cur.fetchall())
    finally:
        connection.close()
