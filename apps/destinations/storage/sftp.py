"""SFTP servers through paramiko, with a pinned host key.

The server must present exactly the key pinned on the destination (a
known_hosts line the owner confirmed after `scan_host_key`); anything else
fails with "host key changed" and both fingerprints. Unknown keys are never
accepted (RejectPolicy). A private key is given as text and parsed in
memory; it never touches the disk.

Writers write `<folder>/<name>.partial` (created exclusively, pipelined
writes), close it (which waits for every write to be acknowledged) and rename
it to `<name>` with posix-rename, like local folders.
"""

from __future__ import annotations

import io
import posixpath
import socket
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import urlsplit

from apps.destinations.storage.base import (
    PARTIAL_SUFFIX,
    Storage,
    StorageError,
    StorageMissing,
    StorageUnreachable,
    Writer,
)
from apps.destinations.storage.sftp_keys import (
    CONNECT_TIMEOUT,
    HostKeyError,
    _os_reason,
    fingerprint,
    host_entry,
    parse_host_key,
    parse_private_key,
)

T = TypeVar("T")

CHANNEL_TIMEOUT = 60
# paramiko asks for at most 32 KiB per request; a reader keeps one window of them in flight.
READ_WINDOW = 8 << 20
REQUEST_SIZE = 32768


class SFTPConnection:
    """One logged-in SSH connection and its SFTP session; close() ends both."""

    def __init__(self, destination: Any) -> None:
        import paramiko

        self.destination = destination
        host, port, user = destination.host, int(destination.port or 22), destination.username
        self.where = f"{user}@{host}:{port}"
        if not (destination.host_key or "").strip():
            raise StorageError(f"SFTP destination {self.where} has no pinned host key: scan and confirm it")
        try:
            _, pinned = parse_host_key(destination.host_key)
        except HostKeyError as exc:
            raise StorageError(f"SFTP destination {self.where}: {exc}") from None
        pkey = None
        if destination.private_key:
            try:
                pkey = parse_private_key(destination.private_key)
            except ValueError as exc:
                raise StorageError(f"SFTP destination {self.where}: {exc}") from None
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        self.client.get_host_keys().add(host_entry(host, port), pinned.get_name(), pinned)
        try:
            self.client.connect(
                host,
                port=port,
                username=user,
                password=destination.password or None,
                pkey=pkey,
                look_for_keys=False,
                allow_agent=False,
                timeout=CONNECT_TIMEOUT,
                banner_timeout=CONNECT_TIMEOUT,
                auth_timeout=CONNECT_TIMEOUT,
                channel_timeout=CONNECT_TIMEOUT,
            )
            self.sftp = self.client.open_sftp()
            channel = self.sftp.get_channel()
            if channel is not None:
                channel.settimeout(CHANNEL_TIMEOUT)
        except paramiko.BadHostKeyException as exc:
            self.client.close()
            raise StorageUnreachable(
                f"SFTP host key changed for {host}:{port}: the server presents {fingerprint(exc.key)}, "
                f"the pinned key is {fingerprint(exc.expected_key)}. If the change is expected, "
                "scan and confirm the new key."
            ) from None
        except paramiko.AuthenticationException:
            self.client.close()
            how = "private key" if pkey is not None else "password"
            raise StorageError(f"SFTP bad credentials: {self.where} refused the {how}") from None
        except (OSError, EOFError) as exc:
            self.client.close()
            raise StorageUnreachable(f"SFTP server unreachable: {self.where} ({_os_reason(exc)})") from None
        except paramiko.SSHException as exc:
            self.client.close()
            raise StorageUnreachable(f"SFTP connection to {self.where} failed: {exc}") from None

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


def _io_error(exc: OSError | EOFError, action: str, path: str, where: str) -> StorageError:
    if isinstance(exc, FileNotFoundError):
        return StorageMissing(f"File sftp://{where}{path} is missing")
    if isinstance(exc, PermissionError):
        return StorageError(f"SFTP permission denied: cannot {action} {path} on {where}")
    if isinstance(exc, socket.timeout | TimeoutError | EOFError):
        return StorageUnreachable(f"SFTP server {where} stopped answering while trying to {action} {path}")
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return StorageError(f"SFTP cannot {action} {path} on {where}: {reason}")


class SFTPWriter(Writer):
    """Write `<folder>/<name>.partial` on the server, then posix-rename it to `<name>`."""

    def __init__(self, storage: SFTPStorage, file_name: str) -> None:
        self.location = storage.location_for(file_name)
        self.path = storage.remote_path(file_name)
        self.partial = self.path + PARTIAL_SUFFIX
        self.failed = None
        self.size = 0
        self._done = False
        self._conn = SFTPConnection(storage.destination)
        self._where = self._conn.where
        try:
            _makedirs(self._conn.sftp, posixpath.dirname(self.path))
            self._fh = self._conn.sftp.open(self.partial, "wbx")
            self._fh.set_pipelined(True)
        except OSError as exc:
            self._conn.close()
            raise _io_error(exc, "create", self.partial, self._where) from None

    def write(self, chunk: bytes) -> None:
        if self.failed:
            raise StorageError(self.failed)
        try:
            self._fh.write(chunk)
            self.size += len(chunk)
        except (OSError, EOFError) as exc:
            self.failed = (
                f"Cannot write {self.location}: {_io_error(exc, 'write', self.partial, self._where)}"
            )
            raise StorageError(self.failed) from None

    def commit(self) -> None:
        if self.failed:
            raise StorageError(self.failed)
        sftp = self._conn.sftp
        try:
            self._fh.close()  # waits for every pipelined write to be acknowledged
            if sftp.stat(self.partial).st_size != self.size:
                raise OSError(f"the server holds {sftp.stat(self.partial).st_size} of {self.size} bytes")
            try:
                sftp.stat(self.path)
            except FileNotFoundError:
                pass
            else:
                raise OSError(f"{self.path} already exists")
            try:
                sftp.posix_rename(self.partial, self.path)
            except OSError:
                # Servers without the posix-rename extension: plain rename refuses to overwrite.
                sftp.rename(self.partial, self.path)
        except (OSError, EOFError) as exc:
            self.failed = (
                f"Cannot finalise {self.location}: {_io_error(exc, 'finalise', self.path, self._where)}"
            )
            self.abort()
            raise StorageError(self.failed) from None
        self._done = True
        self._conn.close()

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._fh.close()
        except Exception:  # noqa: BLE001
            pass
        try:
            self._conn.sftp.remove(self.partial)
        except Exception:  # noqa: BLE001 - the server may be gone; cleanup_partial retries later
            pass
        self._conn.close()


def _makedirs(sftp: Any, folder: str) -> None:
    """mkdir -p on the server."""
    missing = []
    while folder not in ("", "/"):
        try:
            sftp.stat(folder)
            break
        except FileNotFoundError:
            missing.append(folder)
            folder = posixpath.dirname(folder)
    for path in reversed(missing):
        sftp.mkdir(path, 0o750)


class SFTPReader(io.RawIOBase):
    """A seekable read-only stream over a remote file.

    Reads ask for a window of READ_WINDOW bytes at once (32 KiB requests in
    flight together, paramiko's readv) and hand it out as it arrives, so at
    most one window is held in memory, however slowly the caller consumes.
    """

    def __init__(self, conn: SFTPConnection, fh: Any, size: int) -> None:
        super().__init__()
        self._conn = conn
        self._fh = fh
        self._size = size
        self._pos = 0
        self._window: Iterator[bytes] | None = None
        self._pending = b""

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        if base + offset != self._pos:
            self._drop_window()
            self._pos = base + offset
        return self._pos

    def _drop_window(self) -> None:
        # Requests already sent are answered into paramiko's buffers and dropped there.
        self._window = None
        self._pending = b""

    def _next_piece(self) -> bytes:
        if self._pending:
            piece, self._pending = self._pending, b""
            return piece
        if self._window is not None:
            piece = next(self._window, b"")
            if piece:
                return piece
        start = self._pos
        end = min(self._size, start + READ_WINDOW)
        if start >= end:
            return b""
        chunks = [(offset, min(REQUEST_SIZE, end - offset)) for offset in range(start, end, REQUEST_SIZE)]
        self._window = iter(self._fh.readv(chunks))
        return next(self._window, b"")

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        view = memoryview(buffer).cast("B")
        filled = 0
        try:
            while filled < len(view) and self._pos < self._size:
                piece = self._next_piece()
                if not piece:
                    break
                take = min(len(piece), len(view) - filled)
                view[filled : filled + take] = piece[:take]
                self._pending = piece[take:]
                filled += take
                self._pos += take
        except (OSError, EOFError) as exc:
            self._drop_window()
            raise OSError(str(_io_error(exc, "read", "", self._conn.where))) from None
        return filled

    def close(self) -> None:
        if not self.closed:
            self._drop_window()
            try:
                self._fh.close()
            except Exception:  # noqa: BLE001
                pass
            self._conn.close()
        super().close()


class SFTPStorage(Storage):
    """A folder on an SFTP server whose host key is pinned."""

    kind = "sftp"

    def _netloc(self) -> str:
        d = self.destination
        host = f"[{d.host}]" if ":" in d.host else d.host
        return f"{d.username}@{host}:{int(d.port or 22)}"

    def remote_path(self, file_name: str) -> str:
        if "/" in file_name or file_name in ("", ".", ".."):
            raise StorageError(f"Invalid file name {file_name!r}")
        return posixpath.join(self.destination.path or "/", file_name)

    def location_for(self, file_name: str) -> str:
        return f"sftp://{self._netloc()}{self.remote_path(file_name)}"

    def _path_of(self, location: str) -> str:
        """The remote path of a location on this destination's server; refuse another server's."""
        if not location:
            raise StorageMissing("No file was recorded for this copy")
        parts = urlsplit(location)
        if parts.scheme != "sftp" or not parts.path.startswith("/"):
            raise StorageUnreachable(f"{location!r} is not an sftp://user@host:port/path location")
        if parts.netloc != self._netloc():
            raise StorageUnreachable(
                f"The copy is on {parts.netloc}, but the destination now points to {self._netloc()}"
            )
        path = posixpath.normpath(parts.path)
        if path != parts.path:
            raise StorageUnreachable(f"{location!r} is not a normalised path")
        return path

    def open_writer(self, file_name: str) -> SFTPWriter:
        return SFTPWriter(self, file_name)

    def open_reader(self, location: str) -> BinaryIO:
        path = self._path_of(location)
        conn = SFTPConnection(self.destination)
        try:
            size = int(conn.sftp.stat(path).st_size or 0)
            fh = conn.sftp.open(path, "rb")
        except (OSError, EOFError) as exc:
            conn.close()
            raise _io_error(exc, "open", path, conn.where) from None
        return cast(BinaryIO, SFTPReader(conn, fh, size))

    def _with_connection(self, location: str, action: str, fn: Callable[[Any, str], T]) -> T:
        path = self._path_of(location)
        conn = SFTPConnection(self.destination)
        try:
            return fn(conn.sftp, path)
        except (OSError, EOFError) as exc:
            raise _io_error(exc, action, path, conn.where) from None
        finally:
            conn.close()

    def size(self, location: str) -> int:
        return self._with_connection(location, "stat", lambda sftp, path: int(sftp.stat(path).st_size))

    def exists(self, location: str) -> bool:
        try:
            self.size(location)
        except StorageMissing:
            return False
        return True

    def delete(self, location: str) -> None:
        def remove(sftp: Any, path: str) -> None:
            try:
                sftp.remove(path)
            except FileNotFoundError:
                sftp.stat(posixpath.dirname(path))  # the folder is there: the file is already gone

        self._with_connection(location, "delete", remove)

    def cleanup_partial(self, location: str) -> bool:
        if not location:
            return False

        def remove(sftp: Any, path: str) -> bool:
            try:
                sftp.remove(path + PARTIAL_SUFFIX)
            except FileNotFoundError:
                return False
            return True

        return self._with_connection(location, "delete", remove)

    def list_locations(self, suffix: str = "") -> list[str]:
        import stat

        folder = self.remote_path("x").rsplit("/", 1)[0] or "/"
        conn = SFTPConnection(self.destination)
        try:
            entries = conn.sftp.listdir_attr(folder)
        except (OSError, EOFError) as exc:
            raise _io_error(exc, "list", folder, conn.where) from None
        finally:
            conn.close()
        return sorted(
            self.location_for(e.filename)
            for e in entries
            if stat.S_ISREG(e.st_mode or 0)
            and e.filename.endswith(suffix)
            and not e.filename.endswith(PARTIAL_SUFFIX)
        )

    def secrets(self) -> list[str]:
        d = self.destination
        return [s for s in (d.password, d.private_key) if s]
