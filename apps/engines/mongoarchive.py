"""The built-in MongoDB archive: a streaming dump/load format for when mongodump is not installed.

Format, version 1 (all integers little-endian; every "BSON" is one BSON
document, which carries its own int32 length prefix):

    archive    := MAGIC VERSION prelude collection* end
    MAGIC      := b"BMMONGO\\x00"                      (8 bytes)
    VERSION    := uint32 = 1
    prelude    := BSON {format: "bm-mongo-archive", database, server_version, created_at}
    collection := b"H" header  (b"D" document)*  b"C" count
    header     := BSON {name, type: "collection" | "view", options, indexes: [index spec, ...]}
    document   := the document's raw BSON, exactly as the server returned it
    count      := BSON {name, count}                   (documents written for this collection)
    end        := b"Z" trailer  <end of stream>
    trailer    := BSON {collections, documents}

- `options` is the collection's `options` from listCollections (capped,
  size, validator, collation, viewOn + pipeline for a view, ...), replayed
  as the `create` command; `indexes` is listIndexes without `_id_` and
  without `v`/`ns`, replayed with `createIndexes` after the documents.
- Documents are read as `RawBSONDocument` and written byte for byte: no
  decode / re-encode, so every BSON type and field order survives.
- Collections come sorted by name, views after collections; `system.*`
  collections are skipped.
- The loader drops every collection named in the archive before recreating
  it (like `mongorestore --drop`), inserts documents in ordered batches of
  1000 documents or 8 MB, and fails on anything unexpected: wrong magic or
  version, a record over 16 MB, a count or trailer that does not match
  what was read, a stream that ends before the end marker, or bytes after it.

Like mongodump without --oplog, the dump reads each collection in turn; it
is not one point-in-time snapshot across collections.
"""

from __future__ import annotations

import datetime
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import bson
from bson.codec_options import CodecOptions
from bson.errors import BSONError
from bson.raw_bson import RawBSONDocument

from apps.engines.base import EngineError, Readable

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer
    from pymongo.collection import Collection
    from pymongo.database import Database

    Doc = dict[str, Any]

MAGIC = b"BMMONGO\x00"
VERSION = 1
FORMAT = "bm-mongo-archive"
MAX_RECORD = 16 * 1024 * 1024 + 16 * 1024  # the server's BSON limit plus command overhead
BATCH_DOCS = 1000
BATCH_BYTES = 8 * 1024 * 1024
CURSOR_BATCH = 1000

_RAW = CodecOptions(document_class=RawBSONDocument)


class ArchiveError(EngineError):
    """The archive is not a valid built-in MongoDB archive."""


# -- dump -------------------------------------------------------------------------


def dump_database(
    db: Database[Doc], write: Callable[[ReadableBuffer], Any], *, server_version: str = ""
) -> dict[str, int]:
    """Write database `db` (a pymongo Database) as an archive through `write`; return the trailer counts.

    Memory stays at one cursor batch: documents go to `write` one by one.
    """
    write(MAGIC + struct.pack("<I", VERSION))
    write(
        bson.encode(
            {
                "format": FORMAT,
                "database": db.name,
                "server_version": server_version,
                "created_at": datetime.datetime.now(datetime.UTC),
            }
        )
    )
    collections = documents = 0
    for info in _collections(db):
        name = info["name"]
        kind = info.get("type", "collection")
        options = dict(info.get("options") or {})
        indexes = [] if kind == "view" else _index_specs(db[name])
        write(b"H" + bson.encode({"name": name, "type": kind, "options": options, "indexes": indexes}))
        count = 0
        if kind != "view":
            # pymongo's types keep the database's document class; _RAW makes them RawBSONDocument.
            coll = cast("Collection[RawBSONDocument]", db.get_collection(name, codec_options=_RAW))
            for doc in coll.find({}, batch_size=CURSOR_BATCH):
                write(b"D")
                write(doc.raw)
                count += 1
        write(b"C" + bson.encode({"name": name, "count": count}))
        collections += 1
        documents += count
    trailer = {"collections": collections, "documents": documents}
    write(b"Z" + bson.encode(trailer))
    return trailer


def _collections(db: Database[Doc]) -> list[Doc]:
    infos = [dict(i) for i in db.list_collections() if not i["name"].startswith("system.")]
    return sorted(infos, key=lambda i: (i.get("type", "collection") == "view", i["name"]))


def _index_specs(coll: Collection[Doc]) -> list[Doc]:
    specs = []
    for index in coll.list_indexes():
        spec = {k: v for k, v in dict(index).items() if k not in ("v", "ns")}
        if spec.get("name") != "_id_":
            specs.append(spec)
    return specs


# -- load -------------------------------------------------------------------------


class _Reader:
    def __init__(self, source: Readable) -> None:
        self._source = source
        self.offset = 0

    def exact(self, n: int, what: str) -> bytes:
        parts, got = [], 0
        while got < n:
            chunk = self._source.read(min(n - got, 1024 * 1024))
            if not chunk:
                raise ArchiveError(
                    f"the archive is truncated: it ends inside {what} at byte {self.offset + got}"
                )
            parts.append(chunk)
            got += len(chunk)
        self.offset += n
        return b"".join(parts)

    def bson_bytes(self, what: str) -> bytes:
        head = self.exact(4, what)
        (length,) = struct.unpack("<i", head)
        if length < 5 or length > MAX_RECORD:
            raise ArchiveError(f"the archive is corrupt: {what} of {length} bytes at byte {self.offset - 4}")
        data = head + self.exact(length - 4, what)
        if data[-1] != 0:
            raise ArchiveError(f"the archive is corrupt: {what} at byte {self.offset - length} is not BSON")
        return data

    def document(self, what: str) -> Doc:
        data = self.bson_bytes(what)
        try:
            return bson.decode(data)
        except (BSONError, ValueError) as exc:
            raise ArchiveError(f"the archive is corrupt: {what} does not decode ({exc})") from None

    def at_end(self) -> bool:
        return self._source.read(1) == b""


def is_builtin_archive(head: bytes) -> bool:
    return head[: len(MAGIC)] == MAGIC


def load_database(
    db: Database[Doc],
    source: Readable,
    *,
    deadline: float | None = None,
    timeout: float = 0,
    prefix: str = "",
    views: list[Doc] | None = None,
) -> dict[str, int]:
    """Load an archive from `source` into pymongo Database `db`, streaming; return the trailer counts.

    `prefix` goes before every collection's name (staging collections that the
    caller renames afterwards); with a `views` list, views are not created but
    their headers appended to it (a view cannot be renamed). Raises
    ArchiveError (an EngineError) for a malformed or truncated archive;
    pymongo errors propagate to the caller.
    """
    reader = _Reader(source)
    if reader.exact(len(MAGIC), "the header") != MAGIC:
        raise ArchiveError("not a BackupManager MongoDB archive (bad magic)")
    (version,) = struct.unpack("<I", reader.exact(4, "the header"))
    if version != VERSION:
        raise ArchiveError(f"unsupported archive version {version} (this version reads {VERSION})")
    prelude = reader.document("the prelude")
    if prelude.get("format") != FORMAT:
        raise ArchiveError("not a BackupManager MongoDB archive (bad prelude)")

    collections = documents = 0
    current: Doc | None = None
    batch: list[RawBSONDocument] = []
    batch_bytes = 0
    count = 0

    def flush() -> None:
        nonlocal batch, batch_bytes
        if batch:
            assert current is not None  # documents are only read inside a collection
            db[prefix + current["name"]].insert_many(batch, ordered=True, bypass_document_validation=True)
            batch, batch_bytes = [], 0

    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise EngineError(f"mongodb restore timed out after {timeout:g} s")
        kind = reader.exact(1, "a record type")
        if kind == b"D":
            if current is None or current["type"] == "view":
                raise ArchiveError(
                    f"the archive is corrupt: a document outside a collection at byte {reader.offset}"
                )
            raw = reader.bson_bytes("a document")
            batch.append(RawBSONDocument(raw))
            batch_bytes += len(raw)
            count += 1
            if len(batch) >= BATCH_DOCS or batch_bytes >= BATCH_BYTES:
                flush()
        elif kind == b"H":
            if current is not None:
                raise ArchiveError(
                    f"the archive is corrupt: collection {current['name']!r} has no end record"
                )
            current = reader.document("a collection header")
            count = 0
            if views is not None and current.get("type") == "view":
                views.append(current)
            else:
                _create(db, current, prefix)
        elif kind == b"C":
            end = reader.document("a collection end")
            if current is None or end.get("name") != current["name"]:
                raise ArchiveError("the archive is corrupt: a collection end without its header")
            flush()
            if end.get("count") != count:
                raise ArchiveError(
                    f"the archive is corrupt: collection {current['name']!r} should hold {end.get('count')} "
                    f"documents, {count} were read"
                )
            if current.get("indexes"):
                db.command({"createIndexes": prefix + current["name"], "indexes": current["indexes"]})
            collections += 1
            documents += count
            current = None
        elif kind == b"Z":
            if current is not None:
                raise ArchiveError(
                    f"the archive is corrupt: collection {current['name']!r} has no end record"
                )
            trailer = reader.document("the trailer")
            if trailer.get("collections") != collections or trailer.get("documents") != documents:
                raise ArchiveError(
                    f"the archive is corrupt: the trailer counts {trailer.get('collections')} collections / "
                    f"{trailer.get('documents')} documents, {collections} / {documents} were read"
                )
            if not reader.at_end():
                raise ArchiveError("the archive is corrupt: data after the end marker")
            return {"collections": collections, "documents": documents}
        else:
            raise ArchiveError(
                f"the archive is corrupt: unknown record type {kind!r} at byte {reader.offset - 1}"
            )


def _create(db: Database[Doc], header: Doc, prefix: str = "") -> None:
    name = header.get("name")
    if not isinstance(name, str) or not name:
        raise ArchiveError("the archive is corrupt: a collection header without a name")
    header.setdefault("type", "collection")
    db.drop_collection(prefix + name)
    command: dict[str, Any] = {"create": prefix + name}
    command.update(header.get("options") or {})
    db.command(command)
