"""Writers and readers per destination kind (local now; S3 later).

A *storage* knows how to reach one Destination. The backup pipeline asks it
for a `Writer` per backup file; verify, download, restore and delete ask it
for readers, sizes and deletions. Kinds register in `STORAGES`, keyed by
`Destination.kind`, so an S3 storage is one more class with the same methods.

Local writers finalise atomically: the bytes go to `<final>.partial`
(created with O_EXCL, mode 0640), and commit() fsyncs the file, renames it
to the final path and fsyncs the folder. Nothing ever appears at a final
path unless the whole file was written and committed.
"""

from __future__ import annotations

import contextlib
import errno
import os
from abc import ABC, abstractmethod
from types import SimpleNamespace
from typing import Any, BinaryIO, ClassVar

PARTIAL_SUFFIX = ".partial"
FILE_MODE = 0o640


class StorageError(Exception):
    """A storage operation failed; the message is for people (no secrets)."""


class StorageMissing(StorageError):
    """The file is not there."""


class StorageUnreachable(StorageError):
    """The destination itself cannot be reached (folder gone, permission, network)."""


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

    def __init__(self, destination) -> None:
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

    def secrets(self) -> list[str]:
        """Secrets this storage uses, for masking messages."""
        return []


class LocalWriter(Writer):
    """Write `<dir>/<name>.partial`, then fsync + rename to `<dir>/<name>`."""

    def __init__(self, directory: str, file_name: str) -> None:
        if os.sep in file_name or file_name in ("", ".", ".."):
            raise StorageError(f"Invalid file name {file_name!r}")
        self.directory = directory
        self.location = os.path.join(directory, file_name)
        self.partial = self.location + PARTIAL_SUFFIX
        self.failed = None
        self.size = 0
        self._done = False
        try:
            fd = os.open(
                self.partial,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                FILE_MODE,
            )
        except OSError as exc:
            raise StorageError(describe_oserror(exc, "create", self.partial)) from exc
        # Unbuffered: the pipeline already hands over 1 MiB chunks.
        self._fh = os.fdopen(fd, "wb", buffering=0)

    def write(self, chunk: bytes) -> None:
        if self.failed:
            raise StorageError(self.failed)
        try:
            view = memoryview(chunk)
            while view:
                written = self._fh.write(view)
                view = view[written:]
            self.size += len(chunk)
        except OSError as exc:
            self.failed = describe_oserror(exc, "write", self.partial)
            raise StorageError(self.failed) from exc

    def commit(self) -> None:
        if self.failed:
            raise StorageError(self.failed)
        renamed = False
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            # os.replace would silently overwrite; our names carry the backup id, so
            # an existing final file means something is wrong: refuse it.
            if os.path.lexists(self.location):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), self.location)
            os.rename(self.partial, self.location)
            renamed = True
            _fsync_dir(self.directory)
        except OSError as exc:
            self.failed = describe_oserror(exc, "finalise", self.location)
            self.abort()
            if renamed:
                # A copy recorded as failed must not leave a file nobody knows about.
                with contextlib.suppress(OSError):
                    os.unlink(self.location)
            raise StorageError(self.failed) from exc
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._fh.close()
        except OSError:
            pass
        try:
            os.unlink(self.partial)
        except FileNotFoundError:
            pass
        except OSError:
            pass  # the folder may be gone or read-only; the reaper retries later


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage(Storage):
    """A folder on this host (its path was validated against BM_ALLOWED_ROOTS when saved)."""

    kind = "local"

    @property
    def directory(self) -> str:
        return self.destination.path

    def location_for(self, file_name: str) -> str:
        return os.path.join(self.directory, file_name)

    def open_writer(self, file_name: str) -> LocalWriter:
        directory = self.directory
        if not directory or not os.path.isabs(directory):
            raise StorageError(f"Destination folder {directory!r} is not an absolute path")
        return LocalWriter(directory, file_name)

    def _check_location(self, location: str) -> str:
        # Locations are written by the pipeline, never by users. They are read
        # as recorded, so a copy stays reachable after its destination's path
        # is edited; only a path that is not absolute and normal is refused.
        if not location:
            raise StorageMissing("No file was recorded for this copy")
        if not os.path.isabs(location) or os.path.normpath(location) != location:
            raise StorageUnreachable(f"{location!r} is not an absolute, normalised path")
        return location

    def _classify(self, exc: OSError, action: str, location: str) -> StorageError:
        folder = os.path.dirname(location)
        if isinstance(exc, FileNotFoundError) and os.path.isdir(folder):
            return StorageMissing(f"File {location} is missing")
        if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
            return StorageUnreachable(f"Destination folder {folder} is not reachable: {exc.strerror}")
        return StorageUnreachable(describe_oserror(exc, action, location))

    def open_reader(self, location: str) -> BinaryIO:
        location = self._check_location(location)
        try:
            fh = open(location, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
        except OSError as exc:
            raise self._classify(exc, "open", location) from exc
        try:
            if not os.path.isfile(location):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), location)
        except OSError as exc:
            fh.close()
            raise self._classify(exc, "open", location) from exc
        return fh

    def size(self, location: str) -> int:
        location = self._check_location(location)
        try:
            return os.stat(location).st_size
        except OSError as exc:
            raise self._classify(exc, "stat", location) from exc

    def exists(self, location: str) -> bool:
        try:
            return os.path.isfile(self._check_location(location))
        except StorageError:
            return False

    def delete(self, location: str) -> None:
        location = self._check_location(location)
        try:
            os.unlink(location)
        except FileNotFoundError:
            if os.path.isdir(os.path.dirname(location)):
                return
            raise StorageUnreachable(
                f"Destination folder {os.path.dirname(location)} is not reachable"
            ) from None
        except OSError as exc:
            raise StorageError(describe_oserror(exc, "delete", location)) from exc

    def cleanup_partial(self, location: str) -> bool:
        if not location:
            return False
        partial = location + PARTIAL_SUFFIX
        try:
            os.unlink(partial)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(describe_oserror(exc, "delete", partial)) from exc
        return True


STORAGES: dict[str, type[Storage]] = {
    "local": LocalStorage,
}


def get_storage(destination) -> Storage:
    """Return the storage for a Destination; StorageError for a kind not supported yet."""
    try:
        cls = STORAGES[destination.kind]
    except KeyError:
        raise StorageError(f"Destinations of kind {destination.kind!r} are not supported yet") from None
    return cls(destination)


def storage_for_copy(copy: Any) -> Storage:
    """Return the storage holding a backup copy, even when its Destination row was deleted.

    `copy` has `destination` (or None), `location` and `destination_name`.
    """
    if copy.destination is not None:
        return get_storage(copy.destination)
    if copy.location and os.path.isabs(copy.location):
        # The destination is gone but the file may not be: reach it as a local folder.
        return LocalStorage(SimpleNamespace(path=os.path.dirname(copy.location), kind="local"))
    raise StorageUnreachable(f"The destination {copy.destination_name!r} was removed")
