"""The MySQL/MariaDB engine against a real MariaDB with the real mariadb-dump / mariadb client."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import threading
import time
from pathlib import Path

import MySQLdb
import pytest

from apps.engines import get_engine
from apps.engines.base import ConnectionInfo, EngineError
from apps.engines.mysql import MySQLEngine, defaults_file
from tests.polling import wait_until

from .helpers import drain, fake_tool, path_with

pytestmark = pytest.mark.servers

BIG = os.urandom(1024 * 1024 + 4321)


def connect(conn: ConnectionInfo, database: str | None = None):
    return MySQLdb.connect(
        host=conn.host,
        port=conn.port,
        user=conn.username,
        password=conn.password,
        database=conn.database_name if database is None else database,
        charset="utf8mb4",
        autocommit=True,
    )


def fill(conn: ConnectionInfo) -> None:
    connection = connect(conn)
    cur = connection.cursor()
    for statement in (
        """CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL,
                                photo LONGBLOB, note LONGTEXT) ENGINE=InnoDB""",
        """CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, person_id INT, at DATETIME(6),
                                payload VARBINARY(64), INDEX events_person_at (person_id, at),
                                FOREIGN KEY (person_id) REFERENCES people (id)) ENGINE=InnoDB""",
        "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(50))",
        """CREATE VIEW people_with_events AS
               SELECT p.name, count(e.id) AS n FROM people p LEFT JOIN events e ON e.person_id = p.id GROUP BY p.name""",
        """CREATE TRIGGER people_audit AFTER INSERT ON people FOR EACH ROW
               INSERT INTO audit (what) VALUES (CONCAT('person ', NEW.id))""",
        "CREATE PROCEDURE count_people(OUT n INT) SELECT count(*) INTO n FROM people",
        "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0",
    ):
        cur.execute(statement)
    cur.executemany(
        "INSERT INTO people (name, photo, note) VALUES (%s, %s, %s)",
        [
            ("Zoë Ångström", b"\x00\x01\xff\x00'\\\"", "naïve café ✓"),
            ("李小龙", None, None),
            ("big", BIG, "😀" * 300_000),
        ],
    )
    cur.executemany(
        "INSERT INTO events (person_id, at, payload) VALUES (%s, %s, %s)",
        [
            (
                1 + i % 3,
                f"2026-01-{1 + i % 28:02d} 10:00:00.{i:06d}",
                None if i % 7 == 0 else hashlib.md5(b"%d" % i).digest(),
            )
            for i in range(2000)
        ],
    )
    connection.close()


def digests(conn: ConnectionInfo) -> dict[str, tuple[int, str]]:
    connection = connect(conn)
    try:
        cur = connection.cursor()
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name",
            (conn.database_name,),
        )
        out = {}
        for (name,) in cur.fetchall():
            cur.execute(f"SELECT * FROM `{name}` ORDER BY 1")
            rows = cur.fetchall()
            out[name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        return out
    finally:
        connection.close()


def objects(conn: ConnectionInfo) -> dict[str, set[str]]:
    connection = connect(conn)
    db = conn.database_name
    try:
        cur = connection.cursor()
        queries = {
            "views": "SELECT table_name FROM information_schema.views WHERE table_schema = %s",
            "indexes": "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = %s",
            "triggers": "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = %s",
            "routines": "SELECT routine_name FROM information_schema.routines WHERE routine_schema = %s",
            "events": "SELECT event_name FROM information_schema.events WHERE event_schema = %s",
        }
        out = {}
        for key, sql in queries.items():
            cur.execute(sql, (db,))
            out[key] = {r[0] for r in cur.fetchall()}
        return out
    finally:
        connection.close()


@pytest.fixture
def engine() -> MySQLEngine:
    return get_engine("mysql")


@pytest.fixture
def source(mysql_databases) -> ConnectionInfo:
    conn = mysql_databases("bm_src")
    fill(conn)
    return conn


@pytest.fixture
def real_client_dir() -> Path:
    return Path(shutil.which("mariadb-dump") or shutil.which("mysqldump")).parent


def test_it_round_trips_into_a_differently_named_database(engine, source, mysql_databases, tmp_path, workdir):
    stream = engine.dump(source, timeout=60, workdir=workdir)
    assert stream.extension == "sql"
    dump = tmp_path / "db.sql"
    drain(stream, dump)
    assert list(workdir.iterdir()) == []
    text = dump.read_bytes()
    assert b"CREATE DATABASE" not in text and b"USE `" not in text

    target = mysql_databases("bm_dst")
    with open(dump, "rb") as fh:
        engine.restore(target, fh, timeout=60, workdir=workdir)

    expected = digests(source)
    assert set(expected) == {"people", "events", "audit", "people_with_events"}
    assert expected["events"][0] == 2000 and expected["audit"][0] == 3
    assert digests(target) == expected
    got = objects(target)
    assert got["views"] == {"people_with_events"}
    assert {"PRIMARY", "events_person_at"} <= got["indexes"]
    assert got["triggers"] == {"people_audit"}
    assert got["routines"] == {"count_people"}
    assert got["events"] == {"nightly"}

    # The restored copy stands on its own: nothing in it points at the source database.
    connection = connect(source, database="")
    connection.cursor().execute(f"DROP DATABASE `{source.database_name}`")
    connection.close()
    connection = connect(target)
    cur = connection.cursor()
    cur.execute("SELECT n FROM people_with_events WHERE name = '李小龙'")
    assert cur.fetchone() == (667,)
    cur.execute("SELECT photo FROM people WHERE name = 'big'")
    assert cur.fetchone()[0] == BIG
    connection.close()
    assert list(workdir.iterdir()) == []


def test_it_passes_a_password_with_quotes_hashes_and_backslashes_through_the_option_file(
    engine, mysql_databases, mysql_server, tmp_path, workdir
):
    db = mysql_databases("bm_src")
    admin = connect(db)
    cur = admin.cursor()
    for password in ('p#a"s s\\w;rd ', "it's # \\n"):
        user = f"bm_q{len(password)}"
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        cur.execute(f"GRANT ALL ON `{db.database_name}`.* TO '{user}'@'%'")
        try:
            conn = dataclasses.replace(db, username=user, password=password)
            drain(engine.dump(conn, timeout=30, workdir=workdir), tmp_path / "dump.sql")
        finally:
            cur.execute(f"DROP USER '{user}'@'%'")
    admin.close()


def test_it_writes_the_option_file_private_and_first_on_the_command_line(engine, source, workdir):
    path = defaults_file(source, workdir)
    try:
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text() == (
            f'[client]\nhost="127.0.0.1"\nport={source.port}\nuser="{source.username}"\npassword="{source.password}"\n'
        )
        argv = engine.dump_command(source, path, "mariadb-dump")
        assert argv[1] == f"--defaults-extra-file={path}"
        assert argv[-2:] == ["--", source.database_name]
        assert source.password not in " ".join(argv)
        restore = engine.restore_command(source, path, "mariadb")
        assert restore[1] == f"--defaults-extra-file={path}"
        assert "--force" not in restore and "--binary-mode" in restore
    finally:
        path.unlink()


def test_it_never_puts_the_password_in_argv(
    engine, source, mysql_databases, mysql_server, real_client_dir, tmp_path, workdir, monkeypatch
):
    record = tmp_path / "argv.txt"
    bindir = tmp_path / "bin"
    for tool in ("mariadb-dump", "mariadb"):
        fake_tool(
            bindir,
            tool,
            f'printf "%s\\n" "{tool}" "$@" >> {record}\n'
            f'stat -c "mode=%a" "${{1#--defaults-extra-file=}}" >> {record}\n'
            f'exec {real_client_dir}/{tool} "$@"\n',
        )
    monkeypatch.setenv("PATH", path_with(bindir))
    monkeypatch.setenv("MYSQL_PWD", "inherited-not-used")

    stream = engine.dump(source, timeout=60, workdir=workdir)
    cmdline = Path(f"/proc/{stream.pid}/cmdline").read_bytes()
    dump = tmp_path / "db.sql"
    drain(stream, dump)
    target = mysql_databases("bm_dst")
    with open(dump, "rb") as fh:
        engine.restore(target, fh, timeout=60, workdir=workdir)

    recorded = record.read_text()
    assert recorded.count("mode=600") == 2
    assert "--single-transaction" in recorded and "--hex-blob" in recorded
    assert mysql_server["password"] not in recorded
    assert mysql_server["password"].encode() not in cmdline
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("direction", ["dump", "restore"])
def test_it_says_authentication_failed_without_quoting_the_password(engine, source, workdir, direction):
    wrong = dataclasses.replace(source, password="Wr0ng-s3cret-9f1e")
    with pytest.raises(EngineError) as info:
        if direction == "dump":
            stream = engine.dump(wrong, timeout=30, workdir=workdir)
            assert stream.read(1024) == b""
            stream.finish()
        else:
            engine.restore(wrong, io.BytesIO(b"SELECT 1;"), timeout=30, workdir=workdir)
    message = str(info.value)
    assert message.startswith("Authentication failed: ")
    assert "Access denied" in message
    assert "Wr0ng-s3cret-9f1e" not in message
    assert list(workdir.iterdir()) == []


def test_it_names_the_tool_when_it_is_missing(engine, source, tmp_path, workdir, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(
        EngineError, match="^mariadb-dump not found: install the MariaDB or MySQL client tools$"
    ):
        engine.dump(source, timeout=30, workdir=workdir)
    with pytest.raises(EngineError, match="^mariadb not found: install the MariaDB or MySQL client tools$"):
        engine.restore(source, io.BytesIO(b""), timeout=30, workdir=workdir)
    assert list(workdir.iterdir()) == []


def test_it_uses_mysqldump_when_mariadb_dump_is_absent(
    engine, source, real_client_dir, tmp_path, workdir, monkeypatch
):
    bindir = tmp_path / "bin"
    fake_tool(
        bindir,
        "mysqldump",
        f'echo mysqldump >> {tmp_path / "used"}\nexec {real_client_dir}/mariadb-dump "$@"\n',
    )
    monkeypatch.setenv("PATH", str(bindir))
    drain(engine.dump(source, timeout=30, workdir=workdir), tmp_path / "dump.sql")
    assert "mysqldump" in (tmp_path / "used").read_text()


def test_it_times_out_a_dump_that_waits_on_a_lock(engine, source, workdir):
    blocker = connect(source)
    cur = blocker.cursor()
    cur.execute("LOCK TABLES events WRITE")
    try:
        started = time.monotonic()
        stream = engine.dump(source, timeout=2, workdir=workdir)
        while stream.read(1024 * 1024):
            pass
        with pytest.raises(EngineError, match=r"^mariadb-dump timed out after 2 s"):
            stream.finish()
        assert time.monotonic() - started < 10
    finally:
        cur.execute("UNLOCK TABLES")
        blocker.close()
    assert list(workdir.iterdir()) == []


def test_it_kills_the_dump_at_once_on_abort(engine, source, workdir):
    blocker = connect(source)
    cur = blocker.cursor()
    cur.execute("LOCK TABLES events WRITE")
    try:
        stream = engine.dump(source, timeout=60, workdir=workdir)
        pid = stream.pid
        threading.Timer(0.5, stream.abort).start()
        started = time.monotonic()
        while stream.read(1024 * 1024):
            pass
        assert time.monotonic() - started < 5
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=5, what="the dump process to be gone")
        # abort() runs in the timer thread: it removes its defaults file just after the kill.
        wait_until(lambda: not list(workdir.iterdir()), timeout=5, what="its defaults file to be removed")
    finally:
        cur.execute("UNLOCK TABLES")
        blocker.close()
    assert list(workdir.iterdir()) == []


def test_it_fails_with_the_clients_message_on_garbage(engine, mysql_databases, workdir):
    target = mysql_databases("bm_dst")
    with pytest.raises(EngineError) as info:
        engine.restore(
            target, io.BytesIO(b"this is not sql;\n" + os.urandom(5000)), timeout=30, workdir=workdir
        )
    message = str(info.value)
    assert message.startswith("mariadb failed (exit status 1): ")
    assert "ERROR 1064" in message


def test_it_stops_at_the_first_error_and_fails(engine, mysql_databases, workdir):
    target = mysql_databases("bm_dst")
    sql = b"CREATE TABLE a (x INT);\nINSERT INTO nope VALUES (1);\nCREATE TABLE b (x INT);\n"
    with pytest.raises(EngineError, match="doesn't exist"):
        engine.restore(target, io.BytesIO(sql), timeout=30, workdir=workdir)
    assert set(digests(target)) == set()  # loaded into a scratch database, dropped on the error


def test_it_kills_the_client_when_the_source_stream_fails(engine, mysql_databases, workdir):
    target = mysql_databases("bm_dst")

    class Broken(io.RawIOBase):
        calls = 0

        def read(self, size=-1):
            self.calls += 1
            if self.calls == 1:
                return b"CREATE TABLE a (x INT);\n"
            raise OSError("checksum mismatch in the stored copy")

    with pytest.raises(OSError, match="checksum mismatch"):
        engine.restore(target, Broken(), timeout=30, workdir=workdir)
    assert list(workdir.iterdir()) == []
