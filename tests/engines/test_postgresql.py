"""The PostgreSQL engine against a real PostgreSQL 15 with the real pg_dump / pg_restore."""

from __future__ import annotations

import dataclasses
import io
import os
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from apps.engines import get_engine
from apps.engines.base import EngineError
from apps.engines.postgresql import PostgresEngine
from tests.polling import wait_until

from .helpers import drain, fake_tool, path_with

pytestmark = pytest.mark.servers

BIG = os.urandom(1024 * 1024 + 4321)


def connect(conn):
    connection = psycopg2.connect(
        host=conn.host, port=conn.port, user=conn.username, password=conn.password, dbname=conn.database_name
    )
    connection.autocommit = True
    return connection


def fill(conn) -> None:
    with connect(conn) as connection, connection.cursor() as cur:
        cur.execute(
            """
            CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL, photo bytea, note text, data jsonb);
            CREATE TABLE events (id bigserial PRIMARY KEY, person_id int REFERENCES people(id), at timestamptz,
                                 payload bytea);
            CREATE INDEX events_person_at ON events (person_id, at);
            CREATE VIEW people_with_events AS
                SELECT p.name, count(e.id) AS n FROM people p LEFT JOIN events e ON e.person_id = p.id GROUP BY p.name;
            CREATE TABLE empty_table (x int);
            """
        )
        cur.executemany(
            "INSERT INTO people (name, photo, note, data) VALUES (%s, %s, %s, %s)",
            [
                ("Zoë Ångström", b"\x00\x01\xff\x00", "naïve café ✓", '{"k": "ü"}'),
                ("李小龙", None, None, None),
                ("big", BIG, "😀" * 300_000, '{"big": true}'),
            ],
        )
        cur.execute(
            """
            INSERT INTO events (person_id, at, payload)
            SELECT 1 + g % 3, '2026-01-01'::timestamptz + g * interval '1 hour',
                   CASE WHEN g % 7 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END
            FROM generate_series(1, 2000) g
            """
        )
    connection.close()


def digests(conn) -> dict[str, tuple[int, str]]:
    """Row count and md5 of the ordered text of every table and view in `public`."""
    connection = connect(conn)
    try:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
            )
            names = [r[0] for r in cur.fetchall()]
            out = {}
            for name in names:
                cur.execute(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM \"{name}\" t"
                )
                out[name] = tuple(cur.fetchone())
            return out
    finally:
        connection.close()


def catalog(conn) -> tuple[set[str], set[str]]:
    connection = connect(conn)
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT viewname FROM pg_views WHERE schemaname = 'public'")
            views = {r[0] for r in cur.fetchall()}
            cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
            indexes = {r[0] for r in cur.fetchall()}
            return views, indexes
    finally:
        connection.close()


@pytest.fixture
def engine() -> PostgresEngine:
    return get_engine("postgresql")


@pytest.fixture
def source(pg_databases):
    conn = pg_databases("bm_src")
    fill(conn)
    return conn


def test_it_round_trips_unicode_binary_nulls_a_large_row_an_index_and_a_view(
    engine, source, pg_databases, tmp_path, workdir
):
    stream = engine.dump(source, timeout=60, workdir=workdir)
    assert stream.extension == "dump"
    dump = tmp_path / "db.dump"
    drain(stream, dump)
    assert dump.read_bytes()[:5] == b"PGDMP"
    assert list(workdir.iterdir()) == []  # the password file is gone

    target = pg_databases("bm_dst")
    with open(dump, "rb") as fh:
        engine.restore(target, fh, timeout=60, workdir=workdir)

    expected = digests(source)
    assert set(expected) == {"people", "events", "people_with_events", "empty_table"}
    assert expected["events"][0] == 2000
    assert digests(target) == expected
    views, indexes = catalog(target)
    assert views == {"people_with_events"}
    assert {"events_person_at", "people_pkey", "events_pkey"} <= indexes
    assert list(workdir.iterdir()) == []


def test_it_dumps_uncompressed_so_the_pipeline_compresses_once(engine, source, tmp_path, workdir):
    dump = tmp_path / "db.dump"
    drain(engine.dump(source, timeout=60, workdir=workdir), dump)
    # The random 1 MB bytea is stored as is: a compressed archive would still hold it,
    # but -Z0 leaves the repeated emoji text uncompressed too (1.2 MB of it).
    assert dump.stat().st_size > len(BIG) + 1_000_000


def test_it_restores_over_an_existing_copy_with_clean(engine, source, pg_databases, tmp_path, workdir):
    dump = tmp_path / "db.dump"
    drain(engine.dump(source, timeout=60, workdir=workdir), dump)
    target = pg_databases("bm_dst")
    for _ in range(2):
        with open(dump, "rb") as fh:
            engine.restore(target, fh, timeout=60, workdir=workdir)
    assert digests(target) == digests(source)


def test_it_says_authentication_failed_without_quoting_the_password(engine, source, workdir):
    wrong = dataclasses.replace(source, password="Wr0ng-s3cret-9f1e")
    stream = engine.dump(wrong, timeout=30, workdir=workdir)
    assert stream.read(1024 * 1024) == b""
    with pytest.raises(EngineError) as info:
        stream.finish()
    message = str(info.value)
    assert "authentication failed" in message.lower()
    assert "password authentication failed" in message
    assert "Wr0ng-s3cret-9f1e" not in message
    assert list(workdir.iterdir()) == []


def test_it_says_authentication_failed_on_restore_too(engine, source, tmp_path, workdir):
    dump = tmp_path / "db.dump"
    drain(engine.dump(source, timeout=60, workdir=workdir), dump)
    wrong = dataclasses.replace(source, password="Wr0ng-s3cret-9f1e")
    with open(dump, "rb") as fh, pytest.raises(EngineError, match="Authentication failed") as info:
        engine.restore(wrong, fh, timeout=30, workdir=workdir)
    assert "Wr0ng-s3cret-9f1e" not in str(info.value)


def test_it_never_puts_the_password_in_argv_and_hands_it_over_in_a_private_file(
    engine, source, pg_databases, tmp_path, workdir, monkeypatch, pg_server
):
    record = tmp_path / "argv.txt"
    bindir = tmp_path / "bin"
    real = Path(os.environ.get("BM_TEST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
    for tool in ("pg_dump", "pg_restore"):
        fake_tool(
            bindir,
            tool,
            f'printf "%s\\n" "{tool}" "$@" >> {record}\n'
            f'stat -c "mode=%a" "$PGPASSFILE" >> {record}\n'
            f'[ -z "$PGPASSWORD" ] || echo "PGPASSWORD is set" >> {record}\n'
            f'exec {real}/{tool} "$@"\n',
        )
    monkeypatch.setenv("PATH", path_with(bindir))
    monkeypatch.setenv("PGPASSWORD", "inherited-not-used")

    stream = engine.dump(source, timeout=60, workdir=workdir)
    cmdline = Path(f"/proc/{stream.pid}/cmdline").read_bytes()
    dump = tmp_path / "db.dump"
    drain(stream, dump)
    target = pg_databases("bm_dst")
    with open(dump, "rb") as fh:
        engine.restore(target, fh, timeout=60, workdir=workdir)

    recorded = record.read_text()
    assert recorded.count("mode=600") == 2
    assert "PGPASSWORD is set" not in recorded
    assert "--format=custom" in recorded and "--exit-on-error" in recorded
    assert pg_server["password"] not in recorded
    assert pg_server["password"].encode() not in cmdline
    assert list(workdir.iterdir()) == []


def test_it_names_pg_dump_when_the_tool_is_missing(engine, source, tmp_path, workdir, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(PostgresEngine, "fallback_globs", ())
    with pytest.raises(EngineError) as info:
        engine.dump(source, timeout=30, workdir=workdir)
    assert str(info.value) == "pg_dump not found: install the PostgreSQL client tools"
    with pytest.raises(EngineError, match="^pg_restore not found: install the PostgreSQL client tools$"):
        engine.restore(source, io.BytesIO(b""), timeout=30, workdir=workdir)
    assert list(workdir.iterdir()) == []


def test_it_falls_back_to_the_newest_versioned_client_folder(engine, tmp_path, monkeypatch):
    for version in ("9.6", "13", "15"):
        fake_tool(tmp_path / "pg" / version / "bin", "pg_dump", "exit 0\n")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(PostgresEngine, "fallback_globs", (str(tmp_path / "pg" / "*" / "bin" / "{tool}"),))
    assert engine.tool("pg_dump") == str(tmp_path / "pg" / "15" / "bin" / "pg_dump")


def test_it_times_out_a_dump_that_waits_on_a_lock(engine, source, workdir):
    blocker = connect(source)
    blocker.autocommit = False
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        stream = engine.dump(source, timeout=2, workdir=workdir)
        while stream.read(1024 * 1024):
            pass
        with pytest.raises(EngineError, match=r"^pg_dump timed out after 2 s"):
            stream.finish()
        assert time.monotonic() - started < 10
    finally:
        blocker.rollback()
        blocker.close()
    assert list(workdir.iterdir()) == []


def test_it_kills_the_dump_at_once_on_abort(engine, source, workdir):
    blocker = connect(source)
    blocker.autocommit = False
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        stream = engine.dump(source, timeout=60, workdir=workdir)
        pid = stream.pid
        time.sleep(0.5)
        assert Path(f"/proc/{pid}").exists()
        threading.Timer(0.2, stream.abort).start()
        started = time.monotonic()
        while stream.read(1024 * 1024):  # a reader blocked in read() is released by abort()
            pass
        assert time.monotonic() - started < 5
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=5, what="the dump process to be gone")
        # abort() runs in the timer thread: it removes its password file just after the kill.
        wait_until(lambda: not list(workdir.iterdir()), timeout=5, what="its password file to be removed")
        stream.abort()  # idempotent
    finally:
        blocker.rollback()
        blocker.close()
    assert list(workdir.iterdir()) == []


def test_it_fails_with_pg_restores_message_on_garbage(engine, pg_databases, workdir):
    target = pg_databases("bm_dst")
    with pytest.raises(EngineError) as info:
        engine.restore(target, io.BytesIO(os.urandom(200_000)), timeout=30, workdir=workdir)
    assert "pg_restore" in str(info.value)
    assert "does not appear to be a valid archive" in str(info.value)


def test_it_fails_on_a_truncated_archive(engine, source, pg_databases, tmp_path, workdir):
    dump = tmp_path / "db.dump"
    drain(engine.dump(source, timeout=60, workdir=workdir), dump)
    data = dump.read_bytes()
    target = pg_databases("bm_dst")
    with pytest.raises(EngineError, match="pg_restore"):
        engine.restore(target, io.BytesIO(data[: len(data) // 2]), timeout=30, workdir=workdir)


def test_it_fails_when_the_target_database_does_not_exist(engine, source, tmp_path, workdir):
    dump = tmp_path / "db.dump"
    drain(engine.dump(source, timeout=60, workdir=workdir), dump)
    missing = dataclasses.replace(source, database_name="bm_no_such_database")
    with (
        open(dump, "rb") as fh,
        pytest.raises(EngineError, match='database "bm_no_such_database" does not exist'),
    ):
        engine.restore(missing, fh, timeout=30, workdir=workdir)


def test_it_treats_an_error_line_as_failure_even_when_pg_restore_exits_zero(
    engine, pg_databases, tmp_path, workdir, monkeypatch
):
    fake_tool(
        tmp_path / "bin",
        "pg_restore",
        'cat >/dev/null\necho "pg_restore: error: could not execute query" >&2\n',
    )
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    target = pg_databases("bm_dst")
    with pytest.raises(EngineError, match="could not execute query"):
        engine.restore(target, io.BytesIO(b"PGDMP"), timeout=30, workdir=workdir)


def test_it_kills_pg_restore_when_the_source_stream_fails(
    engine, pg_databases, tmp_path, workdir, monkeypatch
):
    pidfile = tmp_path / "pid"
    fake_tool(
        tmp_path / "bin",
        "pg_restore",
        f"echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}\nexec cat >/dev/null\n",
    )
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))

    class Broken(io.RawIOBase):
        calls = 0

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 3:
                deadline = time.monotonic() + 5
                while not pidfile.exists():  # the tool is running
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                raise OSError("checksum mismatch in the stored copy")
            return b"x" * min(size, 1000)

    target = pg_databases("bm_dst")
    with pytest.raises(OSError, match="checksum mismatch"):
        engine.restore(target, Broken(), timeout=30, workdir=workdir)
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists()
    assert list(workdir.iterdir()) == []
