"""MongoDB restores load into staging collections and replace the target only after the whole copy arrived
(against secantusdb, the MongoDB-wire server bin/test provides)."""

from __future__ import annotations

import io
import sys

import pytest

from apps.backups import runner
from apps.backups.models import Backup, Restore
from apps.backups.restore import run_restore
from apps.engines import get_engine
from apps.engines.base import EngineError
from apps.engines.mongodb import STAGING_MARK
from tests.backups.test_runner import flip_byte

from .helpers import drain, fake_tool, path_with
from .test_mongodb import client_for, fill, snapshot


@pytest.fixture
def engine():
    return get_engine("mongodb")


@pytest.fixture
def dump(engine, mongo_databases, tmp_path, workdir) -> bytes:
    source = mongo_databases("bm_src")
    fill(source)
    path = tmp_path / "db.bmarchive"
    drain(engine.dump(source, timeout=60, workdir=workdir), path)
    return path.read_bytes()


@pytest.fixture
def target(mongo_databases):
    """A target with its own data: an older `people` and collections the backup does not have."""
    conn = mongo_databases("bm_dst")
    client = client_for(conn)
    db = client[conn.database_name]
    db.people.insert_many([{"_id": 1, "name": "old one"}, {"_id": 99, "name": "stale"}])
    db.keepme.insert_one({"_id": 1, "v": "mine"})
    db.command({"create": "keepme_view", "viewOn": "keepme", "pipeline": []})
    client.close()
    return conn


def staging(conn) -> list[str]:
    client = client_for(conn)
    try:
        return [n for n in client[conn.database_name].list_collection_names() if n.startswith(STAGING_MARK)]
    finally:
        client.close()


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


def test_a_restore_replaces_the_collections_in_the_backup_and_keeps_the_others(engine, dump, target, workdir):
    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir)

    got = snapshot(target)
    assert {"people", "events", "strict", "french", "empty", "people_named"} < set(got)
    assert got["keepme"]["count"] == 1 and got["keepme_view"]["type"] == "view"
    assert got["people"]["count"] == 4
    assert got["events"]["options"] == {"capped": True, "size": 10 * 1024 * 1024}
    assert got["strict"]["options"]["validator"]
    assert staging(target) == []


def test_a_clean_restore_leaves_nothing_that_is_not_in_the_backup(engine, dump, target, workdir):
    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir, clean=True)

    assert set(snapshot(target)) == {"people", "events", "strict", "french", "empty", "people_named"}
    assert staging(target) == []


def test_a_stream_refused_at_its_end_leaves_the_target_exactly_as_it_was(engine, dump, target, workdir):
    before = snapshot(target)

    with pytest.raises(OSError, match="is corrupt"):
        engine.restore(target, FailsAtTheEnd(dump), timeout=60, workdir=workdir)

    assert snapshot(target) == before
    assert staging(target) == []


def test_an_archive_broken_half_way_leaves_the_target_as_it_was(engine, dump, target, workdir):
    before = snapshot(target)

    with pytest.raises(EngineError, match="^mongodb restore: the archive"):
        engine.restore(target, io.BytesIO(dump[: len(dump) // 2]), timeout=60, workdir=workdir)

    assert snapshot(target) == before
    assert staging(target) == []


def test_staging_collections_a_killed_restore_left_are_dropped_by_the_next_one(engine, dump, target, workdir):
    client = client_for(target)
    client[target.database_name][f"{STAGING_MARK}0badc0de.people"].insert_one({"_id": 1})
    client.close()

    engine.restore(target, io.BytesIO(dump), timeout=60, workdir=workdir)

    assert staging(target) == []


def test_what_mongorestore_loads_is_renamed_from_staging_into_the_target(
    engine, target, tmp_path, workdir, monkeypatch
):
    """A stand-in mongorestore writes what the real one would, into the --nsTo namespace it is given."""
    from apps.engines.mongodb import MONGODUMP_MAGIC

    script = tmp_path / "fake_mongorestore.py"
    script.write_text(
        "import sys, pymongo\n"
        "args = dict(a.split('=', 1) for a in sys.argv[1:] if '=' in a)\n"
        "sys.stdin.buffer.read()\n"
        "db, _, prefix = args['--nsTo'].partition('.')\n"
        "prefix = prefix.replace('$coll$', '')\n"
        "client = pymongo.MongoClient(args['--host'], int(args['--port']), directConnection=True)\n"
        "client[db][prefix + 'people'].insert_one({'_id': 7, 'name': 'from mongorestore'})\n"
        "client[db].command({'create': prefix + 'named', 'viewOn': prefix + 'people', 'pipeline': []})\n"
    )
    fake_tool(tmp_path / "bin", "mongorestore", f'exec {sys.executable} {script} "$@"\n')
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))

    engine.restore(target, io.BytesIO(MONGODUMP_MAGIC + b"archive"), timeout=60, workdir=workdir)

    client = client_for(target)
    db = client[target.database_name]
    assert list(db.people.find()) == [{"_id": 7, "name": "from mongorestore"}]
    assert list(db.named.find()) == [{"_id": 7, "name": "from mongorestore"}]
    assert db.keepme.count_documents({}) == 1
    client.close()
    assert staging(target) == []


@pytest.mark.django_db
def test_a_copy_with_a_flipped_byte_near_its_end_leaves_the_target_as_it_was(
    mongo_databases, target, make_database, make_destination
):
    source_conn = mongo_databases("bm_src")
    fill(source_conn)

    def register(conn, **extra):
        return make_database(
            engine="mongodb",
            host=conn.host,
            port=conn.port,
            database_name=conn.database_name,
            options={"dumper": "builtin"},
            **extra,
        )

    source = register(source_conn, compression="none")
    make_destination(source)
    backup = runner.run_backup(Backup.objects.create(database=source))
    assert backup.status == "completed", backup.error
    flip_byte(backup.copies.get().location, offset=-20)
    before = snapshot(target)

    restore = run_restore(Restore.objects.create(backup=backup, target_database=register(target)))

    assert restore.status == Restore.Status.FAILED
    assert "is corrupt" in restore.error and "the target was not changed" in restore.error
    assert snapshot(target) == before
    assert staging(target) == []

    # The intact copy of a second backup restores in one pass.
    backup = runner.run_backup(Backup.objects.create(database=source))
    restore = run_restore(Restore.objects.create(backup=backup, target_database=register(target)))
    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert restore.bytes_done == backup.size_bytes
    assert restore.attempts[-1]["messages"].startswith("built-in loader: ")
    assert snapshot(target)["people"] == snapshot(source_conn)["people"]
