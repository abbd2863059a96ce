"""MongoDB: pymongo for the connection test; mongodump or the built-in dumper for backups.

dump: when `mongodump` is on PATH, `mongodump --archive` of the one
database to stdout (extension "archive"); otherwise the built-in pymongo
dumper of `mongoarchive` (its own documented format, extension "bmarchive").
`conn.options["dumper"]` may force "mongodump" or "builtin".

restore: the format is recognised from the stream's first bytes, so a
backup restores wherever it was made: a mongodump archive goes to
`mongorestore --archive --drop` (renamed into the target database with
--nsFrom/--nsTo), a built-in archive to the built-in loader (which also
drops each collection it restores first).

The mongodump/mongorestore password sits in a 0600 YAML `--config` file in
the run's workdir; host, port, user, auth database and database name are
arguments, the password never is.
"""

from __future__ import annotations

import io
import json
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
    run_with_stdin,
)

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
    restore_scope = (
        "Every collection in the backup is dropped and restored with the backup's documents. "
        "Collections that are not in the backup stay as they are."
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
        self, conn: ConnectionInfo, config: Path, tool: str = "mongorestore"
    ) -> list[str]:
        """The mongorestore argv: archive from stdin, each collection dropped first, renamed into the target."""
        return [
            tool,
            *self._tool_args(conn, config),
            "--archive",
            "--drop",
            "--nsFrom=$db$.$coll$",
            f"--nsTo={_database(conn)}.$coll$",
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

    def restore(self, conn: ConnectionInfo, source: Readable, *, timeout: int, workdir: Path) -> None:
        """Restore a mongodump archive or a built-in archive, recognised by its first bytes."""
        _database(conn)
        head = _read_head(source, len(mongoarchive.MAGIC))
        stream = _Prepend(head, source)
        if head[:4] == MONGODUMP_MAGIC:
            tool = find_tool(["mongorestore"], hint=_HINT + " (this backup was made with mongodump)")
            config = private_file(workdir, ".mongo-", self.config_text(conn), suffix=".yaml")
            try:
                run_with_stdin(
                    self.mongorestore_command(conn, config, tool),
                    stream,
                    tool="mongorestore",
                    conn=conn,
                    timeout=timeout,
                    describe=_describe_tool,
                )
            finally:
                remove_files([config])
            return
        if not mongoarchive.is_builtin_archive(head):
            raise EngineError(
                "mongodb restore: the backup is neither a mongodump archive nor a built-in archive"
            )
        self._load_builtin(conn, stream, timeout)

    def _load_builtin(self, conn: ConnectionInfo, stream: Readable, timeout: int) -> None:
        from pymongo.errors import PyMongoError

        client = self.client(conn, _selection_timeout(timeout), socket_timeout=timeout)
        try:
            mongoarchive.load_database(
                client[conn.database_name], stream, deadline=time.monotonic() + timeout, timeout=timeout
            )
        except EngineError as exc:
            raise EngineError(conn.mask(f"mongodb restore: {exc}")) from None
        except PyMongoError as exc:
            raise EngineError(_describe_pymongo(exc, conn, "restore")) from None
        finally:
            client.close()


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
