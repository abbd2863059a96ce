"""MongoDB: pymongo for the connection test; mongodump or the built-in dumper for backups.

dump: when `mongodump` is on PATH, `mongodump --archive` of the one
database to stdout (extension "archive"); otherwise the built-in pymongo
dumper of `mongoarchive` (its own documented format, extension "bmarchive").
`conn.options["dumper"]` may force "mongodump" or "builtin".

restore: the format is recognised from the stream's first bytes, so a
backup restores wherever it was made: a mongodump archive goes to
`mongorestore --archive --drop`, a built-in archive to the built-in loader.
Either loads into staging collections of the target database,
`__bm_restore_<hex>.<name>`; only when the load succeeded (and the caller's
stream ended, i.e. the copy's checksum matched) is each one renamed over its
target collection (`renameCollection` with `dropTarget`, atomic for that
collection) and the backup's views recreated (a view cannot be renamed). A
failure before the renames drops the staging collections and leaves the
target untouched. The renames are one quick sequence, not one atomic step:
a server that dies between two of them leaves some collections restored and
the others as they were. A staging collection left by a killed worker is
dropped by the next restore into that database.

The mongodump/mongorestore password sits in a 0600 YAML `--config` file in
the run's workdir; host, port, user, auth database and database name are
arguments, the password never is.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.engines import mongoarchive
from apps.engines.base import ConnectionInfo, ConnectionResult, DumpStream, Engine, EngineError, Readable
from apps.engines.process import (
    ProcessDumpStream,
    ThreadDumpStream,
    find_tool,
    private_file,
    remove_files,
)
from apps.engines.process_feed import run_with_stdin

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer
    from pymongo import MongoClient

_HINT = "install the MongoDB database tools"
# The first four bytes of every mongodump archive (0x8199e26d, little-endian).
MONGODUMP_MAGIC = bytes.fromhex("6de29981")


class MongoEngine(Engine):
    name = "mongodb"
    label = "MongoDB"
    default_port = 27017
    extension = "archive"
    # An archive of an empty database still has its header (and the built-in one its magic).
    empty_dump_floor = 8
    # Loaded into staging collections; the target changes only by renames at the end.
    atomic_restore = True
    restore_scope = (
        "The backup is loaded into staging collections of the target database first; only when all of "
        "it loaded and its checksum matched does each one replace the collection of its name (one "
        "atomic rename per collection; a failure before that changes nothing). Collections that are "
        "not in the backup stay as they are."
    )
    clean_scope = (
        "The backup is loaded into staging collections first; when it loaded and its checksum matched, "
        "each replaces the collection of its name (one atomic rename per collection), then every other "
        "collection and view of the target database is dropped: nothing that is not in the backup remains."
    )
    builtin_extension = "bmarchive"

    def client(
        self, conn: ConnectionInfo, timeout: int, *, socket_timeout: int | None = None
    ) -> MongoClient[dict[str, Any]]:
        """Return a pymongo client for the connection (credentials passed as arguments, not in a URI)."""
        import pymongo

        kwargs: dict[str, Any] = {
            "host": conn.host or "127.0.0.1",
            "port": conn.port or self.default_port,
            "serverSelectionTimeoutMS": timeout * 1000,
            "connectTimeoutMS": timeout * 1000,
            "directConnection": True,
            "appname": "backupmanager",
        }
        if socket_timeout:
            kwargs["socketTimeoutMS"] = socket_timeout * 1000
        if conn.username:
            kwargs.update(
                username=conn.username,
                password=conn.password,
                authSource=conn.options.get("auth_source") or "admin",
            )
        return pymongo.MongoClient(**kwargs)

    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        from pymongo.errors import OperationFailure, PyMongoError, ServerSelectionTimeoutError

        where = f"{conn.host or '127.0.0.1'}:{conn.port or self.default_port}"
        client = self.client(conn, timeout)
        try:
            info = client.server_info()
            names = client[conn.database_name].list_collection_names() if conn.database_name else []
        except OperationFailure as exc:
            if exc.code in (18, 8000) or "auth" in str(exc).lower():
                return ConnectionResult(False, f"Authentication failed for user {conn.username!r}")
            return ConnectionResult(False, f"Connection failed: {exc}")
        except ServerSelectionTimeoutError:
            return ConnectionResult(False, f"Host unreachable: no MongoDB server answered at {where}")
        except PyMongoError as exc:
            return ConnectionResult(False, f"Connection failed: {exc}")
        finally:
            client.close()
        message = "Connected" if names or not conn.database_name else "Connected (database is empty)"
        return ConnectionResult(True, message, server_version=info.get("version"))

    # -- mongodump / mongorestore ---------------------------------------------

    def _tool_args(self, conn: ConnectionInfo, config: Path) -> list[str]:
        args = [
            f"--config={config}",
            f"--host={conn.host or '127.0.0.1'}",
            f"--port={conn.port or self.default_port}",
        ]
        if conn.username:
            args += [f"--username={conn.username}", f"--authenticationDatabase={_auth_source(conn)}"]
        return args

    def mongodump_command(self, conn: ConnectionInfo, config: Path, tool: str = "mongodump") -> list[str]:
        """The mongodump argv: archive to stdout, the password only in the --config file."""
        return [tool, *self._tool_args(conn, config), f"--db={_database(conn)}", "--archive"]

    def mongorestore_command(
        self, conn: ConnectionInfo, config: Path, tool: str = "mongorestore", prefix: str = ""
    ) -> list[str]:
        """The mongorestore argv: archive from stdin, each collection dropped first, renamed into the target.

        `prefix` goes before each collection's name (the staging collections of a restore)."""
        return [
            tool,
            *self._tool_args(conn, config),
            "--archive",
            "--drop",
            "--nsFrom=$db$.$coll$",
            f"--nsTo={_database(conn)}.{prefix}$coll$",
        ]

    @staticmethod
    def config_text(conn: ConnectionInfo) -> str:
        """The YAML --config file: the password as a JSON string (valid YAML, every character escaped)."""
        return f"password: {json.dumps(conn.password)}\n"

    def _use_mongodump(self, conn: ConnectionInfo) -> bool:
        choice = conn.options.get("dumper", "auto")
        if choice == "builtin":
            return False
        if choice == "mongodump":
            return True
        return shutil.which("mongodump") is not None

    # -- dump -----------------------------------------------------------------

    def dump(self, conn: ConnectionInfo, *, timeout: int, workdir: Path) -> DumpStream:
        """Start a dump: mongodump when available, else the built-in dumper in a thread."""
        _database(conn)
        if self._use_mongodump(conn):
            tool = find_tool(["mongodump"], hint=_HINT)
            config = private_file(workdir, ".mongo-", self.config_text(conn), suffix=".yaml")
            return ProcessDumpStream(
                self.mongodump_command(conn, config, tool),
                tool="mongodump",
                conn=conn,
                timeout=timeout,
                extension=self.extension,
                cleanup=[config],
                describe=_describe_tool,
            )
        client = self.client(conn, _selection_timeout(timeout), socket_timeout=timeout)

        def produce(write: Callable[[ReadableBuffer], object]) -> None:
            try:
                version = client.server_info().get("version", "")
                mongoarchive.dump_database(client[conn.database_name], write, server_version=version)
            finally:
                client.close()

        return ThreadDumpStream(
            produce,
            tool="mongodb dump",
            conn=conn,
            timeout=timeout,
            extension=self.builtin_extension,
            on_cancel=client.close,
            describe=lambda exc: _describe_pymongo(exc, conn, "dump"),
        )

    # -- restore --------------------------------------------------------------

    def restore(
        self, conn: ConnectionInfo, source: Readable, *, timeout: int, workdir: Path, clean: bool = False
    ) -> str:
        """Restore a mongodump or built-in archive into staging collections, then rename them over the target.

        `clean`: afterwards every collection and view of the target that is not in the backup is dropped.
        """
        from pymongo.errors import PyMongoError

        _database(conn)
        head = _read_head(source, len(mongoarchive.MAGIC))
        stream = _Prepend(head, source)
        mongodump = head[:4] == MONGODUMP_MAGIC
        if mongodump:
            tool = find_tool(["mongorestore"], hint=_HINT + " (this backup was made with mongodump)")
        elif not mongoarchive.is_builtin_archive(head):
            raise EngineError(
                "mongodb restore: the backup is neither a mongodump archive nor a built-in archive"
            )
        started = time.monotonic()
        prefix = f"{STAGING_MARK}{secrets.token_hex(4)}."
        client = self.client(conn, _selection_timeout(timeout), socket_timeout=timeout)
        try:
            db = client[conn.database_name]
            _drop_staging(db)  # what a killed restore into this database left
            views: list[dict[str, Any]] = []
            try:
                if mongodump:
                    output = self._mongorestore(conn, stream, tool, workdir, timeout, prefix)
                else:
                    try:
                        counts = mongoarchive.load_database(
                            db,
                            stream,
                            deadline=started + timeout,
                            timeout=timeout,
                            prefix=prefix,
                            views=views,
                        )
                    except EngineError as exc:
                        raise EngineError(conn.mask(f"mongodb restore: {exc}")) from None
                    output = (
                        f"built-in loader: {counts['collections']} collections, {counts['documents']} documents, "
                        f"{len(views)} views"
                    )
                _swap(db, prefix, views, clean=clean)
            finally:
                _drop_staging(db, prefix)
        except PyMongoError as exc:
            raise EngineError(_describe_pymongo(exc, conn, "restore")) from None
        finally:
            client.close()
        return output

    def _mongorestore(
        self, conn: ConnectionInfo, stream: Readable, tool: str, workdir: Path, timeout: int, prefix: str
    ) -> str:
        config = private_file(workdir, ".mongo-", self.config_text(conn), suffix=".yaml")
        try:
            return run_with_stdin(
                self.mongorestore_command(conn, config, tool, prefix),
                stream,
                tool="mongorestore",
                conn=conn,
                timeout=timeout,
                describe=_describe_tool,
            )
        finally:
            remove_files([config])

    def create_database(self, conn: ConnectionInfo, timeout: int = 30) -> None:
        """MongoDB creates a database with its first collection: nothing to do before a restore."""
        _database(conn)


STAGING_MARK = "__bm_restore_"
_STAGING = re.compile(r"^__bm_restore_[0-9a-f]{8}\.")


def _drop_staging(db: Any, prefix: str | None = None) -> None:
    """Drop this restore's staging collections (`prefix`), or every restore's when None."""
    for name in db.list_collection_names():
        if name.startswith(prefix) if prefix else _STAGING.match(name):
            db.drop_collection(name)


def _rename(db: Any, staged: str, final: str) -> None:
    db[staged].rename(final, dropTarget=True)


def _copy(db: Any, staged: str, final: str) -> None:
    """Replace `final` by a copy of `staged` (options, documents, indexes): for servers whose rename loses
    a collection's options. Not atomic for that collection: it is dropped, then refilled."""
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    info = next(iter(db.list_collections(filter={"name": staged})), None) or {}
    source = db.get_collection(staged, codec_options=CodecOptions(document_class=RawBSONDocument))
    indexes = [
        {k: v for k, v in dict(index).items() if k not in ("v", "ns")}
        for index in source.list_indexes()
        if index["name"] != "_id_"
    ]
    db.drop_collection(final)
    db.command({"create": final, **dict(info.get("options") or {})})
    batch: list[Any] = []
    for document in source.find(batch_size=mongoarchive.CURSOR_BATCH):
        batch.append(document)
        if len(batch) >= mongoarchive.BATCH_DOCS:
            db[final].insert_many(batch, ordered=True, bypass_document_validation=True)
            batch = []
    if batch:
        db[final].insert_many(batch, ordered=True, bypass_document_validation=True)
    if indexes:
        db.command({"createIndexes": final, "indexes": indexes})
    db.drop_collection(staged)


def _rename_keeps_options(db: Any) -> bool:
    """Does this server keep a collection's options through renameCollection? (MongoDB does.)"""
    probe = f"{STAGING_MARK}{secrets.token_hex(4)}."
    try:
        db.command({"create": probe + "a", "capped": True, "size": 4096})
        db[probe + "a"].rename(probe + "b", dropTarget=True)
        info = next(iter(db.list_collections(filter={"name": probe + "b"})), None) or {}
        return bool((info.get("options") or {}).get("capped"))
    finally:
        _drop_staging(db, probe)


def _swap(db: Any, prefix: str, views: list[dict[str, Any]], *, clean: bool) -> None:
    """Rename each staging collection over its target, recreate the views; `clean` drops the rest."""
    infos = list(db.list_collections())
    staged: list[str] = []
    for info in infos:
        name = info["name"]
        if not name.startswith(prefix):
            continue
        if info.get("type") == "view":  # mongorestore made it: recreate it under its own name
            options = dict(info.get("options") or {})
            if str(options.get("viewOn", "")).startswith(prefix):
                options["viewOn"] = options["viewOn"][len(prefix) :]
            views.append({"name": name[len(prefix) :], "options": options})
            db.drop_collection(name)
        else:
            staged.append(name)
    names = {name[len(prefix) :] for name in staged} | {str(v["name"]) for v in views}
    existing = {
        info["name"]: info.get("type")
        for info in infos
        if not _STAGING.match(info["name"]) and not info["name"].startswith("system.")
    }
    move = _rename if _rename_keeps_options(db) else _copy
    renamed = 0
    try:
        for name in staged:
            final = name[len(prefix) :]
            if existing.get(final) == "view":
                db.drop_collection(final)  # a view is not replaced by a rename
            move(db, name, final)
            renamed += 1
        pending = list(views)
        # A view may be defined on another view: create those that can be, until none is left.
        while pending:
            failed: list[dict[str, Any]] = []
            last: Exception | None = None
            for view in pending:
                try:
                    db.drop_collection(view["name"])
                    db.command({"create": view["name"], **dict(view.get("options") or {})})
                except Exception as exc:  # noqa: BLE001 - retried after the others, then reported
                    failed.append(view)
                    last = exc
            if len(failed) == len(pending):
                raise last or EngineError("cannot create the views")
            pending = failed
        if clean:
            for name in existing:
                if name not in names:
                    db.drop_collection(name)
    except Exception as exc:
        if not renamed:
            raise
        raise EngineError(
            f"mongodb restore: {renamed} of {len(staged)} collections were replaced, then: {str(exc)[:1000]}"
        ) from None


def _selection_timeout(timeout: int) -> int:
    """Give up finding the server well within the run's timeout, so the message says why."""
    return max(1, min(30, timeout // 2))


def _auth_source(conn: ConnectionInfo) -> str:
    return conn.options.get("auth_source") or "admin"


def _database(conn: ConnectionInfo) -> str:
    if not conn.database_name:
        raise EngineError("mongodb: no database name")
    return conn.database_name


def _read_head(source: Readable, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = source.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    head = b"".join(parts)
    if not head:
        raise EngineError("mongodb restore: the backup is empty")
    return head


class _Prepend(io.RawIOBase):
    """`head` followed by the rest of `source`, read in the caller's chunk sizes."""

    def __init__(self, head: bytes, source: Readable) -> None:
        self._head = head
        self._source = source

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                size = len(self._head)
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._source.read(size)


def _describe_tool(rc: int | None, text: str) -> str | None:
    lowered = text.lower()
    if "authentication failed" in lowered or "auth error" in lowered:
        line = next((ln for ln in text.splitlines() if "auth" in ln.lower()), text.strip())
        return f"Authentication failed: {line.strip()}"
    return None


def _describe_pymongo(exc: BaseException, conn: ConnectionInfo, step: str) -> str:
    from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

    where = f"{conn.host or '127.0.0.1'}:{conn.port or MongoEngine.default_port}"
    if isinstance(exc, OperationFailure) and (exc.code in (18, 8000) or "auth" in str(exc).lower()):
        message = f"Authentication failed for user {conn.username!r}: {exc.details.get('errmsg') if exc.details else exc}"
    elif isinstance(exc, ServerSelectionTimeoutError):
        message = f"mongodb {step} failed: no MongoDB server answered at {where}"
    else:
        message = f"mongodb {step} failed: {str(exc)[:1000]}"
    return conn.mask(message)
