"""Streams a run reads through: deadline and cancel checks, hashing, read-ahead; its private temp folder.

Framework-free: restores and verifications wrap what they read in these, so
a run stops in time, hashes in the same pass and never holds a file whole.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

READ_CHUNK = 1 << 20
PROGRESS_INTERVAL = 1.0
WORKDIR_PREFIX = "bm-run-"


class Workdir:
    """A private 0700 temp folder named after this process, removed afterwards whatever happened.

    Engines keep password files and SQLite snapshots here. A process killed
    with -9 cannot remove it: `remove_dead_workdirs()` (run when a worker
    starts, and every few minutes) removes the folders of processes that no longer
    exist; a worker leaving with a job stuck in a thread removes its own first.
    """

    def __enter__(self) -> Path:
        # mkdtemp creates it 0700; the pid in the name tells whose it is.
        self.path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_folders(root: str | None) -> list[tuple[os.DirEntry, int | None]]:
    """The run folders under `root` (default: the temp folder), each with its process id if named."""
    try:
        entries = list(os.scandir(root or tempfile.gettempdir()))
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith(WORKDIR_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        pid_text = entry.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
        found.append((entry, int(pid_text) if pid_text.isdigit() else None))
    return found


def remove_dead_workdirs(root: str | None = None) -> list[str]:
    """Remove the run folders whose process is gone (killed workers or commands); return them.

    Folders of a live process are left alone, so several workers on one host
    may start at any time. Folders of the old naming (no pid) are removed
    when older than a day. A worker runs it when it starts and every few minutes.
    """
    removed: list[str] = []
    for entry, pid in _run_folders(root):
        if pid is not None:
            if _pid_alive(pid):
                continue
        else:
            try:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime < 86400:
                    continue
            except OSError:
                continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def remove_own_workdirs(root: str | None = None) -> list[str]:
    """Remove this process's run folders (a worker leaving with a job still stuck in a thread)."""
    removed: list[str] = []
    for entry, pid in _run_folders(root):
        if pid == os.getpid():
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed


class Stop(Exception):
    """Raised from inside the source stream to stop a restore (timeout, cancel)."""


class Deadline:
    """Stop a restore from inside its streams once the time is up or it was cancelled."""

    def __init__(self, timeout: int, cancel: threading.Event | None, what: str = "Restore") -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.cancel = cancel
        self.what = what
        self.reason = ""

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            self.reason = f"{self.what} timed out after {self.timeout} s"
        elif self.cancel is not None and self.cancel.is_set():
            # A lifecycle.Cancel says why (e.g. "interrupted: worker stopped").
            self.reason = getattr(self.cancel, "reason", "") or f"{self.what} cancelled"
        if self.reason:
            raise Stop(self.reason)


class CheckedReader:
    """A readable stream that checks the deadline before every read.

    It wraps what the engine reads (the decompressed dump), so even an engine
    that reads slowly from a decompressor's buffer is stopped in time. When
    given `progress`, it reports `progress()` bytes about once a second.
    """

    def __init__(self, inner, deadline: Deadline, progress=None, on_progress=None) -> None:
        self._inner = inner
        self._deadline = deadline
        self._progress = progress
        self._on_progress = on_progress
        self._last = time.monotonic()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self._deadline.check()
        data = self._inner.read(READ_CHUNK if size is None or size < 0 else size)
        if self._on_progress is not None:
            now = time.monotonic()
            if now - self._last >= PROGRESS_INTERVAL:
                self._last = now
                self._on_progress(self._progress())
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class HashingReader(CheckedReader):
    """The stored file as it is read: hashed, counted, deadline checked."""

    def __init__(self, fh: BinaryIO, deadline: Deadline) -> None:
        super().__init__(fh, deadline)
        self._fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        if data:
            self.digest.update(data)
            self.size += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever the engine left unread."""
        while self.read(READ_CHUNK):
            pass

    def close(self) -> None:
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Prefetcher:
    """Read a stream ahead in a thread, through a small bounded queue.

    The engine's feeding loop then only writes to the tool's pipe, while file
    reads, sha256 and decompression (all of which release the GIL) run beside
    it. An exception in the thread is raised again to the reader.
    """

    _END = object()

    def __init__(self, source, chunk_size: int = READ_CHUNK, depth: int = 4) -> None:
        self._source = source
        self._chunk_size = chunk_size
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._buffer = memoryview(b"")
        self._eof = False
        self._thread = threading.Thread(target=self._run, name="bm-restore-read", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._source.read(self._chunk_size)
                if not self._put(data or self._END) or not data:
                    return
        except BaseException as exc:  # handed to the reader, who raises it
            self._put(exc)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self._buffer:
            if self._eof:
                return b""
            item = self._queue.get()
            if item is self._END:
                self._eof = True
                return b""
            if isinstance(item, BaseException):
                self._eof = True
                raise item
            self._buffer = memoryview(item)
        if size is None or size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        self._buffer = self._buffer[size:]
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Stop the thread and wait for it, so the source may be read again safely."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
        self._thread.join()


class VerifiedTail:
    """A readable stream that withholds its last `hold` bytes until `verify()` passed at its end.

    For restores that are atomic (one transaction, a file swapped in at the
    end): the tool never sees the end of its input — so never commits — before
    the stored copy was hashed to its last byte and matched. `verify()` raises
    (e.g. Stop) to refuse; the tool is then killed with its input unfinished.
    Memory: `hold` bytes plus one read.
    """

    def __init__(self, inner: Any, verify: Callable[[], None], hold: int = 1 << 16) -> None:
        self._inner = inner
        self._verify = verify
        self._hold = hold
        self._buffer = bytearray()
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = READ_CHUNK
        while not self._eof and len(self._buffer) < self._hold + size:
            data = self._inner.read(max(size, READ_CHUNK))
            if not data:
                self._verify()  # raises when the copy does not match: the tail is never released
                self._eof = True
                break
            self._buffer += data
        available = len(self._buffer) if self._eof else max(0, len(self._buffer) - self._hold)
        take = min(size, available)
        out = bytes(self._buffer[:take])
        del self._buffer[:take]
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
