"""The storage interface every destination kind implements, and its errors.

A *storage* knows how to reach one Destination. The backup pipeline asks it
for a `Writer` per backup file; verify, download, restore and delete ask it
for readers, sizes and deletions. Kinds register in `STORAGES`, keyed by
`Destination.kind`, so an S3 storage is one more class with the same methods.

Every writer finalises atomically: nothing ever appears at a final location
unless the whole file was written and committed (local and SFTP write
`<name>.partial` and rename; S3 completes a multipart upload).

This package knows nothing of Django: a storage receives the destination
object duck-typed (the attributes of its kind) and raises StorageError and
its subclasses with messages for people, never containing a secret.
"""

from __future__ import annotations

import errno
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, BinaryIO, ClassVar

PARTIAL_SUFFIX = ".partial"
FILE_MODE = 0o640


class StorageError(Exception):
    """A storage operation failed; the message is for people (no secrets)."""


class StorageMissing(StorageError):
    """The file is not there."""


class StorageUnreachable(StorageError):
    """The destination itself cannot be reached (folder gone, permission, network)."""


class StorageLocked(StorageError):
    """The file is protected (S3 Object Lock) and cannot be deleted yet.

    `until` is the retention date when the server told it (None for a legal
    hold or an unknown date). Retention must keep the record and try later.
    """

    def __init__(self, message: str, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until


def describe_oserror(exc: OSError, action: str, path: str) -> str:
    """Return 'Cannot <action> <path>: <reason>' with the OS's own words for the reason."""
    reason = exc.strerror or (errno.errorcode.get(exc.errno or 0) if exc.errno else None) or str(exc)
    return f"Cannot {action} {path}: {reason}"


class Writer(ABC):
    """One file being written at one destination.

    write() may be called many times, then exactly one of commit() or abort().
    A writer whose write() raised is marked `failed` (with the reason) and
    must only be aborted afterwards.
    """

    location: str = ""
    failed: str | None = None
    size: int = 0

    @abstractmethod
    def write(self, chunk: bytes) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...


class Storage(ABC):
    """How to reach one destination: writers for new files, readers for existing ones."""

    kind: ClassVar[str]

    def __init__(self, destination: Any) -> None:
        # Duck-typed: the attributes of its kind (a Destination row, or a SimpleNamespace).
        self.destination = destination

    @abstractmethod
    def location_for(self, file_name: str) -> str:
        """Return where a file of that name will live (stored on the BackupCopy)."""

    @abstractmethod
    def open_writer(self, file_name: str) -> Writer:
        """Start writing a new file; raise StorageError if that cannot even begin."""

    @abstractmethod
    def open_reader(self, location: str) -> BinaryIO:
        """Open a stored file for streaming reads; StorageMissing / StorageUnreachable."""

    @abstractmethod
    def size(self, location: str) -> int: ...

    @abstractmethod
    def exists(self, location: str) -> bool: ...

    @abstractmethod
    def delete(self, location: str) -> None:
        """Delete a stored file; a file already gone is not an error."""

    @abstractmethod
    def cleanup_partial(self, location: str) -> bool:
        """Remove the leftover `<location>.partial` of a crashed run; True if one was removed."""

    @abstractmethod
    def list_locations(self, suffix: str = "") -> list[str]:
        """Locations of the finished files in this destination's folder (or prefix) ending in `suffix`, sorted.

        Only the folder itself, not sub-folders; `.partial` files are never listed.
        For rebuilding the catalogue from manifests (`suffix=".manifest.json"`).
        """

    def secrets(self) -> list[str]:
        """Secrets this storage uses, for masking messages."""
        return []

    def free_bytes(self) -> int | None:
        """Free space where new files go, in bytes; None when this kind cannot tell (buckets, servers)."""
        return None
