"""Local folders: `<name>.partial`, fsync, rename."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from typing import BinaryIO

from apps.common.paths import is_inside
from apps.destinations.storage.base import (
    FILE_MODE,
    PARTIAL_SUFFIX,
    Storage,
    StorageError,
    StorageMissing,
    StorageUnreachable,
    Writer,
    describe_oserror,
)


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
    """A folder on this host: one of its group's backup folders (checked when saved and when writing)."""

    kind = "local"

    @property
    def directory(self) -> str:
        return str(self.destination.path)

    def location_for(self, file_name: str) -> str:
        return os.path.join(self.directory, file_name)

    def free_bytes(self) -> int | None:
        """Free space of the folder's file system; None when the folder cannot be read."""
        try:
            return shutil.disk_usage(self.directory).free
        except (OSError, ValueError):
            return None

    def open_writer(self, file_name: str) -> LocalWriter:
        directory = self.directory
        if not directory or not os.path.isabs(directory):
            raise StorageError(f"Destination folder {directory!r} is not an absolute path")
        # A Destination names its group's backup folders; the folder must (still) be one of them.
        folders = getattr(self.destination, "allowed_folders", None)
        if folders is not None:
            real = os.path.realpath(directory)
            if not any(is_inside(real, folder) for folder in folders):
                raise StorageError(
                    f"Destination folder {directory} is not one of its group's backup folders "
                    f"({', '.join(folders) or 'none'})"
                )
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

    def list_locations(self, suffix: str = "") -> list[str]:
        directory = self.directory
        try:
            entries = [entry for entry in os.scandir(directory) if entry.is_file(follow_symlinks=False)]
        except FileNotFoundError:
            raise StorageUnreachable(f"Destination folder {directory} does not exist") from None
        except OSError as exc:
            raise StorageUnreachable(describe_oserror(exc, "list", directory)) from exc
        return sorted(
            os.path.join(directory, e.name)
            for e in entries
            if e.name.endswith(suffix) and not e.name.endswith(PARTIAL_SUFFIX)
        )

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
