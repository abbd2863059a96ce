"""A clean PostgreSQL restore: every schema of the target dropped and the backup loaded, in ONE transaction."""

from __future__ import annotations

import io

import pytest

from apps.engines import get_engine
from apps.engines.base import EngineError

from .helpers import drain
from .test_postgresql import connect, digests, fill

pytestmark = pytest.mark.servers


@pytest.fixture
def engine():
    return get_engine("postgresql")


@pytest.fixture
def dump(engine, pg_databases, tmp_path, workdir) -> bytes:
    source = pg_databases("bm_src")
    fill(source)
    path = tmp_path / "db.dump"
    drain(engine.dump(source, timeout=60, workdir=workdir), path)
    return path.read_bytes()


@pytest.fixture
def target(pg_databases):
    conn = pg_databases("bm_dst")
    with connect(conn) as connection, connection.cursor() as cur:
        cur.execute(
            """
            CREATE TABLE people (id int PRIMARY KEY, name text);
            INSERT INTO people VALUES (1, 'old');
            CREATE TABLE keepme (id int);
            INSERT INTO keepme VALUES (42);
            CREATE SCHEMA reports;
            CREATE TABLE reports.monthly (id int);
            CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42';
            """
        )
    connection.close()
    return conn


def everything(conn) -> dict:
    """Every relation and function outside the system schemas, with the public tables' contents."""
    connection = connect(conn)
    try:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1"
            )
            relations = [r[0] for r in cur.fetchall()]
            cur.execute(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public' ORDER BY 1"
            )
            functions = [r[0] for r in cur.fetchall()]
            cur.execute(
                "SELECT nspowner::regrole::text, nspacl::text FROM pg_namespace WHERE nspname = 'public'"
            )
            public = cur.fetchone()
    finally:
        connection.close()
    return {"relations": relations, "functions": functions, "public": public, "data": digests(conn)}


def test_a_clean_restore_leaves_exactly_the_backup(engine, dump, target, workdir):
    public_before = everything(target)["public"]

    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir, clean=True)

    got = everything(target)
    assert set(got["data"]) == {"people", "events", "people_with_events", "empty_table"}
    assert got["data"]["people"][0] == 3
    assert not [r for r in got["relations"] if r.startswith("reports.")]
    assert got["functions"] == []
    assert got["public"] == public_before  # the schema comes back with its owner and privileges
    assert list(workdir.iterdir()) == []


def test_a_plain_restore_keeps_what_is_not_in_the_backup(engine, dump, target, workdir):
    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir)

    got = everything(target)
    assert {"keepme", "people"} <= set(got["data"]) and "reports.monthly:r" in got["relations"]
    assert got["functions"] == ["answer"]


class FailsAtTheEnd(io.RawIOBase):
    def __init__(self, data: bytes, keep: int = 100):
        self._data = io.BytesIO(data[:-keep])

    def readable(self):
        return True

    def read(self, size=-1):
        chunk = self._data.read(size)
        if not chunk:
            raise OSError("The copy is corrupt (its sha256 differs from the record)")
        return chunk


def test_a_clean_restore_refused_at_the_end_of_its_stream_changes_nothing(engine, dump, target, workdir):
    before = everything(target)

    with pytest.raises(OSError, match="is corrupt"):
        engine.restore(target, FailsAtTheEnd(dump), timeout=60, workdir=workdir, clean=True)

    assert everything(target) == before
    assert list(workdir.iterdir()) == []


def test_a_clean_restore_of_a_truncated_archive_changes_nothing(engine, dump, target, workdir):
    before = everything(target)

    with pytest.raises(EngineError, match="pg_restore"):
        engine.restore(target, io.BytesIO(dump[: len(dump) // 2]), timeout=60, workdir=workdir, clean=True)

    assert everything(target) == before


def test_a_clean_restore_of_a_database_whose_public_schema_was_recreated(
    engine, pg_databases, workdir, tmp_path
):
    """pg_restore never creates `public` (its archive only comments and grants on it): the prelude's
    recreated public takes the archive's tables and privileges."""
    source = pg_databases("bm_src")
    with connect(source) as connection, connection.cursor() as cur:
        cur.execute(
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public; CREATE TABLE public.t (i int); INSERT INTO t VALUES (7)"
        )
    connection.close()
    path = tmp_path / "recreated.dump"
    drain(engine.dump(source, timeout=60, workdir=workdir), path)
    target = pg_databases("bm_dst")
    with connect(target) as connection, connection.cursor() as cur:
        cur.execute("CREATE TABLE other (x int)")
    connection.close()

    engine.restore(target, io.BytesIO(path.read_bytes()), timeout=60, workdir=workdir, clean=True)

    assert set(digests(target)) == {"t"} and digests(target)["t"][0] == 1
