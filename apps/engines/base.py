"""What every database engine provides: connection info, a connection test, dump and restore."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Protocol

from apps.common.masking import mask_secrets


@dataclass(frozen=True)
class ConnectionInfo:
    """Everything needed to reach one database. `password` is plaintext: never log this object."""

    engine: str
    host: str = ""
    port: int | None = None
    database_name: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    # Files on this host (SQLite): the folders this database's group may use, and files or folders
    # that are never a source (the metadata database, backup folders). Filled by the caller
    # (Database.connection_info()); an engine that reads or replaces files refuses anything else.
    allowed_folders: tuple[str, ...] = ()
    forbidden_paths: tuple[str, ...] = ()

    @property
    def secrets(self) -> list[str]:
        return [self.password] if self.password else []

    def mask(self, text: str) -> str:
        """Return text with this connection's secrets masked."""
        return mask_secrets(text, self.secrets)


class Readable(Protocol):
    """What a restore reads a dump from: any binary stream; read(size) is all engines call."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class ConnectionResult:
    """The outcome of a connection test, as the API returns it."""

    ok: bool
    message: str
    server_version: str | None = None
    duration_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "message": self.message,
            "server_version": self.server_version,
            "duration_ms": self.duration_ms,
        }


class Engine(ABC):
    """Base class of the engine registry's entries."""

    name: ClassVar[str]
    label: ClassVar[str]
    default_port: ClassVar[int | None] = None
    uses_network: ClassVar[bool] = True
    sensitive_fields: ClassVar[tuple[str, ...]] = ("password",)
    # The file extension of this engine's dumps (a DumpStream says which one it produced).
    extension: ClassVar[str] = "dump"
    # Fewer raw bytes than this cannot be a dump of any database: such a run fails, never
    # "completes" as a tiny file that would crowd good backups out of retention.
    empty_dump_floor: ClassVar[int] = 1
    # True when a restore either applies the whole dump or leaves the target as it was (one
    # transaction, or a file swapped in at the end): the runner then verifies the copy while it
    # streams it, holding back its end until the checksum matched, in one pass.
    atomic_restore: ClassVar[bool] = False
    # What a restore replaces in the target, and what it leaves (said on the restore page).
    restore_scope: ClassVar[str] = "The objects in the backup replace those of the same name in the target."
    # What a clean restore (restore(..., clean=True)) does, or None when the engine has none.
    clean_scope: ClassVar[str | None] = None

    @abstractmethod
    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        """Try to connect; return ok with the server version or a message naming the failed step."""

    @abstractmethod
    def dump(self, conn: ConnectionInfo, *, timeout: int, workdir: Path) -> DumpStream:
        """Start a dump of the whole database (see the contract at the end of this module)."""

    @abstractmethod
    def restore(self, conn: ConnectionInfo, source: Readable, *, timeout: int, workdir: Path) -> str | None:
        """Load a dump from the readable binary stream `source`, streaming; EngineError on any tool error.

        Returns what the tool said (its output, secrets masked), for the restore's page, or None."""

    def create_database(self, conn: ConnectionInfo, timeout: int = 30) -> None:
        """Create the (missing) database of `conn` on its server, for a restore as a new database."""
        raise EngineError(f"{self.label}: this engine cannot create a database")

    def test_connection(self, conn: ConnectionInfo, timeout: int = 5) -> ConnectionResult:
        """Run check_connection, time it, and make sure no secret leaks into the message."""
        started = time.monotonic()
        try:
            result = self.check_connection(conn, timeout)
        except Exception as exc:  # a driver error we did not classify
            result = ConnectionResult(False, f"Connection failed: {exc}")
        result.message = conn.mask(result.message)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result


class EngineError(Exception):
    """A dump or restore failed; the message is for people and carries no secret."""


class DumpStream(ABC):
    """A running dump: read() its bytes in chunks, then finish() or abort().

    Engines return a subclass from Engine.dump(). Contract:
    - read(size) returns up to `size` bytes, b"" at the end of the dump;
    - finish() waits for the dump to end and raises EngineError (secrets
      masked, stderr tail quoted, the tool named) if it did not succeed,
      including when it ran past its timeout;
    - abort() stops the dump at once (kills the process) and cleans up;
      it is safe to call after finish() and more than once;
    - temporary files (password files, snapshots) are removed by finish()/abort().
    """

    extension: str = "dump"

    @abstractmethod
    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" at the end."""

    @abstractmethod
    def finish(self) -> None:
        """Wait for the end; EngineError if the dump did not succeed."""

    @abstractmethod
    def abort(self) -> None:
        """Stop at once and clean up; safe to repeat."""

    def __enter__(self) -> DumpStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()


# Engine methods the backup pipeline calls (implemented per engine):
#
#   Engine.dump(conn: ConnectionInfo, *, timeout: int, workdir: Path) -> DumpStream
#       Start a dump of the whole database. Output is uncompressed (the
#       pipeline compresses once, e.g. pg_dump -Z0). `workdir` is a private
#       0700 temp folder the engine may use for password files / snapshots.
#
#   Engine.restore(conn: ConnectionInfo, source: Readable, *, timeout: int, workdir: Path) -> None
#       Load a dump produced by dump() (already decompressed) from the
#       readable binary stream `source` into the target database, streaming.
#       Raise EngineError on any tool error; never return normally when the
#       tool reported an error. Engines with a `clean_scope` also take
#       `clean=True`: afterwards nothing that is not in the backup remains.
