"""The MongoDB engine: the built-in archive against a real secantusdb server, and the mongodump path's commands."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import os
import stat
import threading
import time
from pathlib import Path

import bson
import pymongo
import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from apps.engines import get_engine, mongoarchive
from apps.engines.base import ConnectionInfo, EngineError
from apps.engines.mongodb import MONGODUMP_MAGIC, MongoEngine
from apps.engines.process import ThreadDumpStream

from .helpers import drain, fake_tool, free_port, path_with

BIG = os.urandom(1024 * 1024 + 4321)


def client_for(conn: ConnectionInfo, **kwargs) -> pymongo.MongoClient:
    return pymongo.MongoClient(conn.host, conn.port, directConnection=True, **kwargs)


def fill(conn: ConnectionInfo) -> None:
    client = client_for(conn)
    db = client[conn.database_name]
    db.create_collection("people")
    db.people.insert_many(
        [
            {
                "_id": 1,
                "name": "Zoë Ångström",
                "photo": bson.Binary(b"\x00\x01\xff\x00"),
                "note": "naïve café ✓",
            },
            {"_id": 2, "name": "李小龙", "photo": None, "note": None},
            {"_id": 3, "name": "big", "photo": bson.Binary(BIG), "note": "😀" * 100_000},
            {
                "_id": 4,
                "types": {
                    "oid": bson.ObjectId(),
                    "dec": bson.Decimal128("1.10"),
                    "ts": bson.Timestamp(1700000000, 3),
                    "re": bson.Regex("^a.*", "i"),
                    "when": datetime.datetime(2026, 2, 28, 23, 59, 59, 999000),
                    "long": bson.Int64(2**40),
                    "minmax": [bson.MinKey(), bson.MaxKey()],
                    "nested": {"a": [1, 2.5, {"b": None}], "z": True},
                },
            },
        ]
    )
    db.people.create_index([("name", 1), ("note", -1)], name="name_note")
    db.people.create_index("types.long", unique=True, sparse=True, name="long_unique")
    db.create_collection("events", capped=True, size=10 * 1024 * 1024)
    db.events.insert_many(
        [
            {"_id": i, "person": 1 + i % 3, "at": datetime.datetime(2026, 1, 1) + datetime.timedelta(hours=i)}
            for i in range(3000)
        ]
    )
    db.events.create_index("at", expireAfterSeconds=86400 * 365, name="at_ttl")
    db.events.create_index("person", partialFilterExpression={"person": {"$gt": 1}}, name="person_partial")
    db.create_collection("strict", validator={"$jsonSchema": {"bsonType": "object", "required": ["x"]}})
    db.strict.insert_one({"_id": "s", "x": 1})
    db.strict.insert_one({"_id": "older than the validator"}, bypass_document_validation=True)
    db.create_collection("french", collation={"locale": "fr"})
    db.french.insert_one({"_id": "é"})
    db.create_collection("empty")
    db.command({"create": "people_named", "viewOn": "people", "pipeline": [{"$project": {"name": 1}}]})
    client.close()


def snapshot(conn: ConnectionInfo) -> dict:
    """Per collection: type, options, indexes, count and a sha256 of the raw documents in _id order."""
    client = client_for(conn)
    db = client[conn.database_name]
    out = {}
    for info in db.list_collections():
        name = info["name"]
        entry = {"type": info.get("type"), "options": dict(info.get("options") or {})}
        if info.get("type") != "view":
            coll = db.get_collection(name, codec_options=CodecOptions(document_class=RawBSONDocument))
            raws = [d.raw for d in coll.find().sort("_id", 1)]
            entry["count"] = len(raws)
            entry["sha256"] = hashlib.sha256(b"".join(raws)).hexdigest()
            entry["indexes"] = sorted(
                (sorted((k, repr(v)) for k, v in dict(i).items() if k not in ("v", "ns")))
                for i in coll.list_indexes()
            )
        out[name] = entry
    client.close()
    return out


@pytest.fixture
def engine() -> MongoEngine:
    return get_engine("mongodb")


@pytest.fixture
def source(mongo_databases) -> ConnectionInfo:
    conn = mongo_databases("bm_src")
    fill(conn)
    return conn


def dump_to(engine, conn, tmp_path, workdir) -> Path:
    path = tmp_path / "db.bmarchive"
    drain(engine.dump(conn, timeout=60, workdir=workdir), path)
    return path


# -- the built-in archive against secantusdb ---------------------------------------


def test_it_round_trips_documents_byte_for_byte_with_indexes_options_and_views(
    engine, source, mongo_databases, tmp_path, workdir
):
    stream = engine.dump(source, timeout=60, workdir=workdir)
    assert stream.extension == "bmarchive"
    dump = tmp_path / "db.bmarchive"
    drain(stream, dump)
    assert dump.read_bytes()[:8] == mongoarchive.MAGIC

    target = mongo_databases("bm_dst")
    with open(dump, "rb") as fh:
        engine.restore(target, fh, timeout=60, workdir=workdir)

    expected = snapshot(source)
    assert set(expected) == {"people", "events", "strict", "french", "empty", "people_named"}
    assert expected["events"]["count"] == 3000 and expected["people"]["count"] == 4
    assert expected["events"]["options"] == {"capped": True, "size": 10 * 1024 * 1024}
    assert expected["people_named"]["type"] == "view"
    assert snapshot(target) == expected
    client = client_for(target)
    assert client[target.database_name].people.find_one({"_id": 3})["photo"] == BIG
    assert list(client[target.database_name].people_named.find({"_id": 2})) == [{"_id": 2, "name": "李小龙"}]
    client.close()
    assert list(workdir.iterdir()) == []


def test_it_drops_the_collections_it_restores_and_leaves_the_others(
    engine, source, mongo_databases, tmp_path, workdir
):
    dump = dump_to(engine, source, tmp_path, workdir)
    target = mongo_databases("bm_dst")
    client = client_for(target)
    db = client[target.database_name]
    db.people.insert_one({"_id": 99, "name": "stale"})
    db.people.create_index("stale", name="stale_index")
    db.unrelated.insert_one({"_id": 1})

    with open(dump, "rb") as fh:
        engine.restore(target, fh, timeout=60, workdir=workdir)

    assert db.people.find_one({"_id": 99}) is None
    assert "stale_index" not in {i["name"] for i in db.people.list_indexes()}
    assert db.unrelated.count_documents({}) == 1
    client.close()


def test_it_documents_the_archive_layout_it_writes(engine, source, tmp_path, workdir):
    data = dump_to(engine, source, tmp_path, workdir).read_bytes()
    assert data[:12] == mongoarchive.MAGIC + (1).to_bytes(4, "little")
    prelude_len = int.from_bytes(data[12:16], "little")
    prelude = bson.decode(data[12 : 12 + prelude_len])
    assert prelude["format"] == "bm-mongo-archive" and prelude["database"] == source.database_name
    body = data[12 + prelude_len :]
    assert body[:1] == b"H"
    assert bson.decode(body[1 : 1 + int.from_bytes(body[1:5], "little")])["name"] == "empty"
    trailer_at = body.rindex(b"Z")
    assert bson.decode(body[trailer_at + 1 :]) == {"collections": 6, "documents": 4 + 3000 + 2 + 1}


def test_it_streams_the_dump_in_chunks_no_larger_than_asked(engine, source, workdir):
    stream = engine.dump(source, timeout=60, workdir=workdir)
    sizes = []
    while chunk := stream.read(64 * 1024):
        sizes.append(len(chunk))
    stream.finish()
    assert max(sizes) <= 64 * 1024 and len(sizes) > 16


def test_it_stops_the_dumper_thread_on_abort(engine, source, workdir):
    stream = engine.dump(source, timeout=60, workdir=workdir)
    assert stream.read(1024)
    dumper = [t for t in threading.enumerate() if t.name == "dump: mongodb dump"]
    assert len(dumper) == 1
    stream.abort()
    stream.abort()
    assert stream.read(1024) == b""
    dumper[0].join(5)
    assert not dumper[0].is_alive()


def test_it_says_no_server_answered_when_the_host_is_unreachable(engine, mongo_databases, workdir):
    conn = dataclasses.replace(mongo_databases(), port=free_port())
    stream = engine.dump(conn, timeout=2, workdir=workdir)
    assert stream.read(1024) == b""
    with pytest.raises(EngineError, match="no MongoDB server answered at 127.0.0.1:"):
        stream.finish()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: os.urandom(5000), "neither a mongodump archive nor a built-in archive"),
        (lambda d: b"", "empty"),
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: d[:-1], "truncated"),
        (lambda d: d + b"x", "data after the end marker"),
        (lambda d: d[:8] + (2).to_bytes(4, "little") + d[12:], "unsupported archive version 2"),
    ],
    ids=["garbage", "empty", "half", "last-byte-missing", "trailing-data", "future-version"],
)
def test_it_refuses_a_damaged_archive(engine, source, mongo_databases, tmp_path, workdir, damage, message):
    data = dump_to(engine, source, tmp_path, workdir).read_bytes()
    target = mongo_databases("bm_dst")
    with pytest.raises(EngineError, match=message):
        engine.restore(target, io.BytesIO(damage(data)), timeout=60, workdir=workdir)


def test_it_refuses_an_archive_whose_counts_do_not_match(engine, mongo_databases, workdir):
    out = io.BytesIO()
    out.write(mongoarchive.MAGIC + (1).to_bytes(4, "little"))
    out.write(bson.encode({"format": "bm-mongo-archive", "database": "x"}))
    out.write(b"H" + bson.encode({"name": "c", "type": "collection", "options": {}, "indexes": []}))
    out.write(b"D" + bson.encode({"_id": 1}))
    out.write(b"C" + bson.encode({"name": "c", "count": 2}))
    out.write(b"Z" + bson.encode({"collections": 1, "documents": 2}))
    with pytest.raises(EngineError, match="should hold 2 documents, 1 were read"):
        engine.restore(mongo_databases("bm_dst"), io.BytesIO(out.getvalue()), timeout=60, workdir=workdir)


def test_it_says_authentication_failed_without_quoting_the_password(
    engine, secantusd_auth, tmp_path, workdir
):
    server, username, password = secantusd_auth
    good = ConnectionInfo(
        engine="mongodb",
        host="127.0.0.1",
        port=server.port,
        database_name="bm_auth",
        username=username,
        password=password,
        options={"dumper": "builtin"},
    )
    client = pymongo.MongoClient(
        "127.0.0.1", server.port, directConnection=True, username=username, password=password
    )
    client.bm_auth.items.insert_one({"_id": 1})
    client.close()
    drain(engine.dump(good, timeout=30, workdir=workdir), tmp_path / "ok.bmarchive")

    wrong = dataclasses.replace(good, password="Wr0ng-s3cret-9f1e")
    stream = engine.dump(wrong, timeout=30, workdir=workdir)
    assert stream.read(1024) == b""
    with pytest.raises(EngineError, match="^Authentication failed for user 'bm'") as info:
        stream.finish()
    assert "Wr0ng-s3cret-9f1e" not in str(info.value)
    with (
        open(tmp_path / "ok.bmarchive", "rb") as fh,
        pytest.raises(EngineError, match="^Authentication failed"),
    ):
        engine.restore(wrong, fh, timeout=30, workdir=workdir)


# -- the thread-backed stream ----------------------------------------------------


def test_a_thread_dump_times_out_and_says_so():
    def produce(write):
        while True:
            write(b"x" * 1000)
            time.sleep(0.05)

    conn = ConnectionInfo(engine="mongodb")
    stream = ThreadDumpStream(produce, tool="mongodb dump", conn=conn, timeout=1, extension="bmarchive")
    started = time.monotonic()
    while stream.read(4096):
        pass
    with pytest.raises(EngineError, match=r"^mongodb dump timed out after 1 s$"):
        stream.finish()
    assert time.monotonic() - started < 5


def test_a_thread_dump_reports_the_producers_error_with_secrets_masked():
    def produce(write):
        write(b"partial")
        raise RuntimeError("boom with hunter2 inside")

    conn = ConnectionInfo(engine="mongodb", password="hunter2")
    stream = ThreadDumpStream(produce, tool="mongodb dump", conn=conn, timeout=30, extension="bmarchive")
    assert stream.read(100) == b"partial"
    assert stream.read(100) == b""
    with pytest.raises(EngineError, match=r"^mongodb dump failed: boom with \*+ inside$"):
        stream.finish()


def test_a_thread_dump_blocked_on_a_full_pipe_ends_on_abort():
    done = threading.Event()

    def produce(write):
        try:
            while True:
                write(b"y" * 65536)
        finally:
            done.set()

    stream = ThreadDumpStream(
        produce, tool="t", conn=ConnectionInfo(engine="mongodb"), timeout=30, extension="x"
    )
    time.sleep(0.2)  # the pipe is full now
    stream.abort()
    assert done.wait(5)


# -- the mongodump / mongorestore path (no such tools on these machines) -----------


@pytest.fixture
def remote() -> ConnectionInfo:
    return ConnectionInfo(
        engine="mongodb",
        host="db.example.com",
        port=27018,
        database_name="shop",
        username="backup",
        password='p@ss: "word" #1\\',
        options={"auth_source": "admin2"},
    )


def test_it_builds_the_mongodump_command_and_config_file_without_the_password(engine, remote, tmp_path):
    config = tmp_path / "c.yaml"
    assert engine.mongodump_command(remote, config, "/opt/mongo/bin/mongodump") == [
        "/opt/mongo/bin/mongodump",
        f"--config={config}",
        "--host=db.example.com",
        "--port=27018",
        "--username=backup",
        "--authenticationDatabase=admin2",
        "--db=shop",
        "--archive",
    ]
    assert engine.mongorestore_command(remote, config, "mongorestore") == [
        "mongorestore",
        f"--config={config}",
        "--host=db.example.com",
        "--port=27018",
        "--username=backup",
        "--authenticationDatabase=admin2",
        "--archive",
        "--drop",
        "--nsFrom=$db$.$coll$",
        "--nsTo=shop.$coll$",
    ]
    assert engine.config_text(remote) == 'password: "p@ss: \\"word\\" #1\\\\"\n'
    import yaml  # the YAML the tools parse must give back the exact password

    assert yaml.safe_load(engine.config_text(remote)) == {"password": remote.password}


def test_it_runs_mongodump_with_a_private_config_file_when_it_is_on_path(
    engine, remote, tmp_path, workdir, monkeypatch
):
    record = tmp_path / "record.txt"
    fake_tool(
        tmp_path / "bin",
        "mongodump",
        f'printf "%s\\n" "$@" > {record}\n'
        f'cfg="${{1#--config=}}"; stat -c "mode=%a" "$cfg" >> {record}; cat "$cfg" >> {record}\n'
        "printf '\\155\\342\\231\\201archive-bytes'\n",
    )
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    conn = dataclasses.replace(remote, options={"auth_source": "admin2"})
    stream = engine.dump(conn, timeout=30, workdir=workdir)
    assert stream.extension == "archive"
    drain(stream, tmp_path / "out.archive")
    assert (tmp_path / "out.archive").read_bytes() == MONGODUMP_MAGIC[:1] + b"\xe2\x99\x81archive-bytes"
    lines = record.read_text().splitlines()
    expected = engine.mongodump_command(conn, Path(lines[0].removeprefix("--config=")), "x")[1:]
    assert Path(lines[0].removeprefix("--config=")).parent == workdir
    assert lines == [*expected, "mode=600", engine.config_text(conn).strip()]
    assert conn.password not in "\n".join(expected)
    assert list(workdir.iterdir()) == []


def test_it_sends_a_mongodump_archive_to_mongorestore_and_a_builtin_one_to_the_loader(
    engine, mongo_databases, tmp_path, workdir, monkeypatch
):
    remote = mongo_databases("bm_dst")  # the staging collections are renamed on a real server
    received = tmp_path / "stdin.bin"
    fake_tool(
        tmp_path / "bin", "mongorestore", f'printf "%s\\n" "$@" > {tmp_path / "argv"}\ncat > {received}\n'
    )
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    payload = MONGODUMP_MAGIC + os.urandom(3 * 1024 * 1024)
    engine.restore(remote, io.BytesIO(payload), timeout=30, workdir=workdir)
    assert received.read_bytes() == payload
    argv = (tmp_path / "argv").read_text().splitlines()
    assert "--drop" in argv
    assert [a for a in argv if a.startswith("--nsTo=")][0].startswith(
        f"--nsTo={remote.database_name}.__bm_restore_"
    )
    assert list(workdir.iterdir()) == []


def test_it_names_mongorestore_when_a_mongodump_backup_cannot_be_restored(
    engine, remote, tmp_path, workdir, monkeypatch
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(EngineError, match="^mongorestore not found: install the MongoDB database tools"):
        engine.restore(remote, io.BytesIO(MONGODUMP_MAGIC + b"rest"), timeout=30, workdir=workdir)


def test_it_reports_mongorestore_failures_with_the_tools_message(
    engine, mongo_databases, tmp_path, workdir, monkeypatch
):
    remote = mongo_databases("bm_dst")
    fake_tool(
        tmp_path / "bin",
        "mongorestore",
        "cat >/dev/null\necho 'Failed: error connecting to db server: server returned error on SASL authentication "
        "step: Authentication failed.' >&2\nexit 1\n",
    )
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    with pytest.raises(EngineError, match="^Authentication failed: Failed: error connecting"):
        engine.restore(remote, io.BytesIO(MONGODUMP_MAGIC + b"rest"), timeout=30, workdir=workdir)


def test_the_builtin_dumper_is_chosen_when_mongodump_is_absent(engine, remote, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert engine._use_mongodump(remote) is False
    fake_tool(empty, "mongodump", "exit 0\n")
    assert engine._use_mongodump(remote) is True
    assert engine._use_mongodump(dataclasses.replace(remote, options={"dumper": "builtin"})) is False
    assert stat.S_IMODE((empty / "mongodump").stat().st_mode) == 0o755
