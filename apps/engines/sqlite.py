"""SQLite: a file on this host; the online backup API for snapshots.

dump() takes a consistent snapshot through SQLite's online backup API
(`sqlite3.Connection.backup`, stepwise so the timeout is honoured) into a
0600 file in the caller's workdir, then streams that file; the snapshot is
removed by finish()/abort(). The output is a plain SQLite database file
(extension "sqlite3").

restore() streams the source into a hidden temp file next to the target,
refuses anything that is not a SQLite database passing
`PRAGMA integrity_check`, fsyncs it and atomically `os.replace`s it onto the
target path: readers see either the old database or the new one, never a
half-written file.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from apps.common.paths import is_inside
from apps.engines.base import ConnectionInfo, ConnectionResult, DumpStream, Engine, EngineError, Readable

_HEADER = b"SQLite format 3\x00"
_CHUNK = 1024 * 1024
# Pages copied per backup step: small enough to check the deadline often.
_PAGES_PER_STEP = 1024


class _Deadline(Exception):
    pass


class FileDumpStream(DumpStream):
    """Stream a finished file; delete it when done (finish/abort)."""

    def __init__(self, path: Path, extension: str, *, delete: bool = True):
        self.extension = extension
        self._path = path
        self._delete = delete
        self._fh: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - closed in _cleanup

    def read(self, size: int) -> bytes:
        if self._fh is None:
            return b""
        return self._fh.read(size)

    def finish(self) -> None:
        self._cleanup()

    def abort(self) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._delete:
            try:
                os.unlink(self._path)
            except FileNotFoundError:
                pass


NOT_FOUND = "No SQLite file at this path in the group's folders."


def path_problem(
    path: str, allowed: tuple[str, ...] | list[str], forbidden: tuple[str, ...] | list[str] = ()
) -> str | None:
    """Return why SQLite may not use this file (read it for a backup, replace it in a restore), or None.

    The file (symlinks resolved) must lie in one of the `allowed` folders (the group's SQLite
    folders) and not in or at one of the `forbidden` paths (BackupManager's own metadata database
    and its -wal/-shm/-journal, backup folders). With no allowed folder, nothing is allowed.
    """
    if not path or not os.path.isabs(path):
        return "The SQLite file path must be an absolute path."
    if "\x00" in path:
        return "The path contains a NUL byte."
    real = os.path.realpath(path)
    folders = [os.path.realpath(folder) for folder in allowed]
    if not any(is_inside(real, folder) for folder in folders):
        listed = ", ".join(folders) or "none"
        return f"SQLite files must lie in one of this group's SQLite folders ({listed})."
    for other in forbidden:
        other = os.path.realpath(other)
        if real in (other, other + "-wal", other + "-shm", other + "-journal") or is_inside(real, other):
            return "This file is BackupManager's own or lies in a backup folder."
    return None


def _is_sqlite_file(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(_HEADER)) == _HEADER


class SQLiteEngine(Engine):
    name = "sqlite"
    label = "SQLite"
    default_port = None
    uses_network = False
    sensitive_fields = ()
    extension = "sqlite3"
    # A SQLite file is at least one 512-byte page.
    empty_dump_floor = 512
    # The restored file replaces the target only after the whole stream arrived and checked out.
    atomic_restore = True
    restore_scope = (
        "The whole database file is replaced by the backup's, once it arrived complete and checked: "
        "tables that are not in the backup are gone afterwards; a failure changes nothing."
    )
    # Replacing the file already leaves nothing that is not in the backup.
    clean_scope = restore_scope

    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        path = conn.database_name
        # Outside the group's folders and missing read the same: a test tells nothing of other files.
        if path_problem(path, conn.allowed_folders, conn.forbidden_paths) or not os.path.exists(path):
            return ConnectionResult(False, NOT_FOUND)
        if not os.path.isfile(path):
            return ConnectionResult(False, f"{path} is not a regular file")
        if not os.access(path, os.R_OK):
            return ConnectionResult(False, f"File {path} is not readable")
        with open(path, "rb") as fh:
            header = fh.read(len(_HEADER))
        if header != _HEADER:
            return ConnectionResult(False, f"File {path} is not a SQLite database")
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            return ConnectionResult(False, f"File {path} cannot be read as SQLite: {exc}")
        return ConnectionResult(True, "Readable SQLite database", server_version=sqlite3.sqlite_version)

    # -- dump -----------------------------------------------------------------

    def dump(self, conn: ConnectionInfo, *, timeout: int, workdir: Path) -> DumpStream:
        """Snapshot the database into workdir and return a stream of the snapshot.

        Raises EngineError when the source is missing, not SQLite, or the
        snapshot does not complete within `timeout` seconds.
        """
        source = self._source_path(conn)
        fd, name = tempfile.mkstemp(prefix="snapshot-", suffix=".sqlite3", dir=workdir)
        os.close(fd)  # mkstemp creates it 0600; sqlite reopens it by name
        snapshot = Path(name)
        try:
            self._snapshot(source, snapshot, timeout)
        except BaseException:
            _unlink_db(snapshot)
            raise
        return FileDumpStream(snapshot, self.extension)

    def _source_path(self, conn: ConnectionInfo) -> str:
        path = conn.database_name
        problem = path_problem(path, conn.allowed_folders, conn.forbidden_paths)
        if problem:
            raise EngineError(f"sqlite: {problem}")
        if not os.path.isfile(path):
            raise EngineError(f"sqlite: file {path} does not exist")
        with open(path, "rb") as fh:
            if fh.read(len(_HEADER)) != _HEADER:
                raise EngineError(f"sqlite: file {path} is not a SQLite database")
        return path

    def _snapshot(self, source: str, snapshot: Path, timeout: int) -> None:
        deadline = time.monotonic() + timeout

        def progress(status: int, remaining: int, total: int) -> None:
            if time.monotonic() > deadline:
                raise _Deadline

        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=timeout)
        except sqlite3.Error as exc:
            raise EngineError(f"sqlite: cannot open {source}: {exc}") from exc
        try:
            dst = sqlite3.connect(snapshot)
            try:
                # Stepwise, without the default 250 ms pause between steps; a
                # write to the source by another process restarts the copy,
                # so the result is always one consistent state.
                src.backup(dst, pages=_PAGES_PER_STEP, progress=progress, sleep=0)
            finally:
                dst.close()
        except _Deadline:
            raise EngineError(f"sqlite backup timed out after {timeout} s") from None
        except sqlite3.Error as exc:
            raise EngineError(f"sqlite backup of {source} failed: {exc}") from exc
        finally:
            src.close()

    # -- restore --------------------------------------------------------------

    def restore(
        self, conn: ConnectionInfo, source: Readable, *, timeout: int, workdir: Path, clean: bool = False
    ) -> str:
        """Replace the target file atomically with the SQLite database read from `source`.

        Always clean (the whole file is replaced). The target's folder must exist. Nothing at the target path changes
        unless the whole stream arrived and passed `PRAGMA integrity_check`.
        """
        target = conn.database_name
        problem = path_problem(target, conn.allowed_folders, conn.forbidden_paths)
        if problem:
            raise EngineError(f"sqlite: {problem}")
        folder = os.path.dirname(target)
        if not os.path.isdir(folder):
            raise EngineError(f"sqlite: folder {folder} does not exist")
        self._check_replaceable(target)
        deadline = time.monotonic() + timeout
        fd, name = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".partial", dir=folder)
        partial = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                first = True
                while chunk := source.read(_CHUNK):
                    if first and not chunk.startswith(_HEADER[: len(chunk)]):
                        raise EngineError("sqlite restore: the backup is not a SQLite database")
                    first = False
                    out.write(chunk)
                    if time.monotonic() > deadline:
                        raise EngineError(f"sqlite restore timed out after {timeout} s")
                if first:
                    raise EngineError("sqlite restore: the backup is empty")
                out.flush()
                os.fsync(out.fileno())
            self._check_integrity(partial)
            os.chmod(partial, _mode_for(target))
            self._check_replaceable(target)  # again: the file may have changed while streaming
            self._release_wal(target)
            os.replace(partial, target)
            _fsync_dir(folder)
        except BaseException:
            _unlink_db(partial)
            raise
        return f"{os.path.getsize(target)} bytes checked (PRAGMA integrity_check: ok) and swapped in"

    def create_database(self, conn: ConnectionInfo, timeout: int = 30) -> None:
        """Nothing to create (the restore writes the file): check that it may, and that no file is there."""
        path = conn.database_name
        problem = path_problem(path, conn.allowed_folders, conn.forbidden_paths)
        if problem:
            raise EngineError(f"sqlite: {problem}")
        if os.path.lexists(path):
            raise EngineError(f"sqlite: {path} already exists; a new database needs a new file")
        if not os.path.isdir(os.path.dirname(path)):
            raise EngineError(f"sqlite: folder {os.path.dirname(path)} does not exist")

    @staticmethod
    def _check_replaceable(target: str) -> None:
        """A restore replaces a SQLite database or creates a missing file, never any other file."""
        if not os.path.lexists(target):
            return
        if os.path.islink(target) or not os.path.isfile(target):
            raise EngineError(f"sqlite restore: {target} is not a regular file; it was left as it is")
        try:
            ok = _is_sqlite_file(target)
        except OSError as exc:
            raise EngineError(f"sqlite restore: cannot read {target}: {exc.strerror}") from None
        if not ok:
            raise EngineError(
                f"sqlite restore: {target} exists and is not a SQLite database; it was left as it is"
            )

    @staticmethod
    def _check_integrity(path: Path) -> None:
        try:
            db = sqlite3.connect(path)
            try:
                rows = db.execute("PRAGMA integrity_check").fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise EngineError(f"sqlite restore: the backup is not a valid SQLite database: {exc}") from exc
        if rows != [("ok",)]:
            problems = "; ".join(str(r[0]) for r in rows[:5])
            raise EngineError(f"sqlite restore: integrity check failed: {problems}")

    @staticmethod
    def _release_wal(target: str) -> None:
        """Make sure no write-ahead log of the old file could be replayed onto the new one."""
        if not os.path.exists(target):
            for suffix in ("-wal", "-shm"):
                try:
                    os.unlink(target + suffix)
                except FileNotFoundError:
                    pass
            return
        wal = target + "-wal"
        if not os.path.exists(wal):
            return
        try:
            db = sqlite3.connect(target, timeout=5)
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.close()  # the last connection to close removes the WAL
        except sqlite3.Error as exc:
            raise EngineError(f"sqlite restore: cannot checkpoint {target}: {exc}") from exc
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            raise EngineError(f"sqlite restore: {target} is in use by another process (its WAL is not empty)")


def _unlink_db(path: Path) -> None:
    for p in (str(path), f"{path}-journal", f"{path}-wal", f"{path}-shm"):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def _mode_for(target: str) -> int:
    """Keep the replaced file's permissions; a new file gets 0644 (os.umask is not thread-safe to query)."""
    try:
        return os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        return 0o644


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
