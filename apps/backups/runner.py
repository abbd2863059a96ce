"""Run one backup or one restore end to end, recording everything on its row.

`run_backup(backup)` and `run_restore(restore)` are what the worker, the
management commands and the tests call. Neither raises for an ordinary
failure (tool error, timeout, destination trouble): the row ends in a
terminal status with an error a person can act on, secrets masked.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.utils import timezone

from apps.backups import compression as codecs
from apps.backups.models import Backup, BackupCopy, Restore
from apps.backups.pipeline import run_pipeline
from apps.backups.services import RESTORABLE, check_copy
from apps.common.masking import mask_secrets, tail
from apps.destinations.storage import StorageError, get_storage, storage_for_copy
from apps.engines import get_engine
from apps.engines.base import EngineError

log = logging.getLogger(__name__)

ERROR_LIMIT = 4000
READ_CHUNK = 1 << 20
PROGRESS_INTERVAL = 1.0


def timeout_for(database) -> int:
    """The time limit of one backup or restore run of this database, in seconds."""
    return int(database.timeout_seconds or settings.BM_BACKUP_TIMEOUT)


def backup_file_name(backup: Backup, extension: str, compression: str) -> str:
    """`<database-slug>_<UTC YYYYmmddTHHMMSSZ>_<backup id>.<ext><compression suffix>`."""
    started = (backup.started_at or backup.created_at or timezone.now()).astimezone(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    return f"{backup.database.slug}_{stamp}_{backup.pk}.{extension}{codecs.suffix(compression)}"


class _Workdir:
    """A private 0700 temp folder, removed afterwards whatever happened."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="bm-run-"))  # mkdtemp creates it 0700
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _clean(text: str, secrets: list[str]) -> str:
    return tail(mask_secrets(text, secrets), ERROR_LIMIT)


# -- backup --------------------------------------------------------------------


def run_backup(
    backup: Backup,
    *,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Backup:
    """Run a pending (or claimed, in-progress) backup now; return it in a terminal status.

    pending/in_progress → in_progress → completed | partial | failed. A backup
    already terminal is returned unchanged. `cancel`, when set by the caller
    (e.g. a worker shutting down after its grace period), aborts the dump and
    leaves no file behind. `on_progress(stored_bytes)` is called about once a
    second, after bytes_done and heartbeat_at were saved.
    """
    backup.refresh_from_db()
    if backup.status in Backup.TERMINAL:
        return backup
    backup.mark_started()
    secrets: list[str] = []
    try:
        database = backup.database
        conn = database.connection_info()
        secrets.extend(conn.secrets)
        backup.compression = codecs.normalize(database.compression)
        backup.save(update_fields=["compression"])
        _run_backup(backup, database, conn, secrets, cancel, on_progress)
    except Exception as exc:  # a bug must not leave the row in progress forever
        log.exception("Backup %s failed unexpectedly", backup.pk)
        _finish_backup(backup, Backup.Status.FAILED, _clean(f"Internal error: {exc}", secrets))
        BackupCopy.objects.filter(backup=backup, status=BackupCopy.Status.IN_PROGRESS).update(
            status=BackupCopy.Status.FAILED, error="Not written: the backup failed"
        )
    return backup


def _run_backup(backup, database, conn, secrets, cancel, on_progress) -> None:
    destinations = list(database.destinations.filter(enabled=True).order_by("id"))
    if not destinations:
        _finish_backup(backup, Backup.Status.FAILED, "no enabled destination")
        return
    engine = get_engine(database.engine)
    extension = getattr(engine, "extension", None) or "dump"
    file_name = backup_file_name(backup, extension, backup.compression)
    copies = _create_copies(backup, destinations, file_name, secrets)
    timeout = timeout_for(database)
    deadline = time.monotonic() + timeout

    with _Workdir() as workdir:
        try:
            stream = engine.dump(conn, timeout=timeout, workdir=workdir)
        except EngineError as exc:
            _fail_copies(copies, "Not written: the backup failed")
            _finish_backup(backup, Backup.Status.FAILED, _clean(str(exc), secrets))
            return
        if stream.extension != extension:
            file_name = backup_file_name(backup, stream.extension, backup.compression)
        backup.file_name = file_name
        backup.save(update_fields=["file_name"])

        writers = {}
        try:
            for dest, copy in copies:
                if copy.status == BackupCopy.Status.FAILED:
                    continue
                try:
                    storage = get_storage(dest)
                    copy.location = storage.location_for(file_name)
                    writers[copy.pk] = storage.open_writer(file_name)
                except StorageError as exc:
                    copy.status = BackupCopy.Status.FAILED
                    copy.error = _clean(str(exc), secrets)
                copy.save(update_fields=["location", "status", "error"])
        except BaseException:
            for writer in writers.values():
                writer.abort()
            stream.abort()
            raise

        if not writers:
            stream.abort()
            details = "; ".join(copy.error for _, copy in copies if copy.error)
            _finish_backup(
                backup,
                Backup.Status.FAILED,
                _clean(f"Every destination failed: {details}", secrets),
            )
            return

        result = run_pipeline(
            stream,
            writers,
            backup.compression,
            timeout=max(1.0, deadline - time.monotonic()),
            on_progress=lambda n: _save_progress(Backup, backup.pk, n, on_progress),
            cancel=cancel,
        )

    by_id = {copy.pk: copy for _, copy in copies}
    for outcome in result.outcomes:
        copy = by_id[outcome.key]
        copy.status = BackupCopy.Status.COMPLETED if outcome.ok else BackupCopy.Status.FAILED
        copy.size_bytes = outcome.size if outcome.ok else None
        copy.error = "" if outcome.ok else _clean(outcome.error, secrets)
        copy.save(update_fields=["status", "size_bytes", "error"])

    backup.bytes_done = result.size
    if result.error:
        backup.size_bytes = None
        backup.save(update_fields=["bytes_done", "size_bytes"])
        _finish_backup(backup, Backup.Status.FAILED, _clean(result.error, secrets))
        return
    backup.size_bytes = result.size
    backup.checksum_sha256 = result.sha256
    backup.save(update_fields=["bytes_done", "size_bytes", "checksum_sha256"])
    failed = [copy for _, copy in copies if copy.status != BackupCopy.Status.COMPLETED]
    if not failed:
        _finish_backup(backup, Backup.Status.COMPLETED, "")
    elif len(failed) < len(copies):
        details = "; ".join(f"{c.destination_name}: {c.error}" for c in failed)
        _finish_backup(
            backup,
            Backup.Status.PARTIAL,
            _clean(
                f"{len(failed)} of {len(copies)} destinations failed: {details}",
                secrets,
            ),
        )
    else:
        details = "; ".join(f"{c.destination_name}: {c.error}" for c in failed)
        _finish_backup(
            backup,
            Backup.Status.FAILED,
            _clean(f"Every destination failed: {details}", secrets),
        )


def _create_copies(backup, destinations, file_name, secrets) -> list[tuple[object, BackupCopy]]:
    """One copy row per destination, with its final location, before any byte is written.

    The worker's crash reaper finds `<location>.partial` through these rows.
    """
    copies = []
    for dest in destinations:
        try:
            location = get_storage(dest).location_for(file_name)
            error = ""
            status = BackupCopy.Status.IN_PROGRESS
        except StorageError as exc:
            location, error, status = (
                "",
                _clean(str(exc), secrets),
                BackupCopy.Status.FAILED,
            )
        copy, _ = BackupCopy.objects.update_or_create(
            backup=backup,
            destination=dest,
            defaults={
                "destination_name": dest.name,
                "location": location,
                "status": status,
                "size_bytes": None,
                "error": error,
            },
        )
        copies.append((dest, copy))
    return copies


def _fail_copies(copies, error: str) -> None:
    for _, copy in copies:
        copy.status = BackupCopy.Status.FAILED
        copy.error = copy.error or error
        copy.save(update_fields=["status", "error"])


def _save_progress(model, pk: int, done: int, callback=None) -> None:
    model.objects.filter(pk=pk).update(bytes_done=done, heartbeat_at=timezone.now())
    if callback is not None:
        callback(done)


def _finish_backup(backup: Backup, status: str, error: str) -> None:
    backup.heartbeat_at = timezone.now()
    backup.save(update_fields=["heartbeat_at"])
    backup.mark_finished(status, error)
    log.info(
        "Backup %s of database %s: %s%s",
        backup.pk,
        backup.database_id,
        status,
        f" ({error})" if error else "",
    )


# -- restore -------------------------------------------------------------------


class _Stop(Exception):
    """Raised from inside the source stream to stop a restore (timeout, cancel)."""


class _Deadline:
    """Stop a restore from inside its streams once the time is up or it was cancelled."""

    def __init__(self, timeout: int, cancel: threading.Event | None) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.cancel = cancel
        self.reason = ""

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            self.reason = f"Restore timed out after {self.timeout} s"
        elif self.cancel is not None and self.cancel.is_set():
            self.reason = "Restore cancelled"
        if self.reason:
            raise _Stop(self.reason)


class _CheckedReader:
    """A readable stream that checks the deadline before every read.

    It wraps what the engine reads (the decompressed dump), so even an engine
    that reads slowly from a decompressor's buffer is stopped in time. When
    given `progress`, it reports `progress()` bytes about once a second.
    """

    def __init__(self, inner, deadline: _Deadline, progress=None, on_progress=None) -> None:
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


class _HashingReader(_CheckedReader):
    """The stored file as it is read: hashed, counted, deadline checked."""

    def __init__(self, fh: BinaryIO, deadline: _Deadline) -> None:
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


class _Prefetcher:
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


def run_restore(
    restore: Restore,
    *,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Restore:
    """Load a backup into the restore's target database; return the restore, terminal.

    Picks `restore.source_copy`, or the first saved copy whose file is intact.
    A copy is verified (size + sha256) in a first streaming pass, so a corrupt
    file is never applied; the restore pass hashes again and fails if the file
    changed in between. Any tool error marks the restore failed with the
    tool's message.
    """
    restore.refresh_from_db()
    if restore.status in Restore.TERMINAL:
        return restore
    restore.mark_started()
    secrets: list[str] = []
    try:
        target = restore.target_database
        conn = target.connection_info()
        secrets.extend(conn.secrets)
        _run_restore(restore, target, conn, secrets, cancel, on_progress)
    except Exception as exc:
        log.exception("Restore %s failed unexpectedly", restore.pk)
        _finish_restore(restore, Restore.Status.FAILED, _clean(f"Internal error: {exc}", secrets))
    return restore


def _run_restore(restore, target, conn, secrets, cancel, on_progress) -> None:
    backup = restore.backup
    if backup is None:
        _finish_restore(restore, Restore.Status.FAILED, "The backup of this restore was deleted")
        return
    if backup.status not in RESTORABLE:
        _finish_restore(
            restore,
            Restore.Status.FAILED,
            f"Backup #{backup.pk} is {backup.status}; it cannot be restored",
        )
        return
    if target.engine != backup.database.engine:
        _finish_restore(
            restore,
            Restore.Status.FAILED,
            f"Backup #{backup.pk} is a {backup.database.engine} dump; the target uses {target.engine}",
        )
        return
    timeout = timeout_for(target)
    deadline = _Deadline(timeout, cancel)

    try:
        copy, problem = _pick_copy(restore, backup, deadline.check)
    except _Stop as exc:
        copy, problem = None, str(exc)
    if copy is None:
        _finish_restore(restore, Restore.Status.FAILED, _clean(problem, secrets))
        return
    if restore.source_copy_id != copy.pk:
        restore.source_copy = copy
        restore.save(update_fields=["source_copy"])

    engine = get_engine(target.engine)
    try:
        fh = storage_for_copy(copy).open_reader(copy.location)
    except StorageError as exc:
        _finish_restore(restore, Restore.Status.FAILED, _clean(str(exc), secrets))
        return
    source = _HashingReader(fh, deadline)
    error = ""
    with _Workdir() as workdir, source:
        prefetch = _Prefetcher(codecs.open_decompressed(source, backup.compression))
        dump = _CheckedReader(
            prefetch,
            deadline,
            progress=lambda: source.size,
            on_progress=lambda n: _save_progress(Restore, restore.pk, n, on_progress),
        )
        try:
            try:
                engine.restore(
                    conn,
                    dump,
                    timeout=max(1, int(deadline.deadline - time.monotonic())),
                    workdir=workdir,
                )
            finally:
                prefetch.close()
            source.drain()
        except _Stop as exc:
            error = str(exc)
        except EngineError as exc:
            error = deadline.reason or str(exc)
        except codecs.CompressionError as exc:
            error = f"The copy at {copy.location} cannot be decompressed: {exc}"
        except OSError as exc:
            error = f"Cannot read {copy.location}: {exc.strerror or exc}"

    restore.bytes_done = source.size
    restore.save(update_fields=["bytes_done"])
    if not error and (
        source.size != backup.size_bytes or source.digest.hexdigest() != backup.checksum_sha256
    ):
        error = (
            f"The copy at {copy.location} changed while it was being restored: sha256 differs; "
            "the target database may hold partly restored data"
        )
    if error:
        _finish_restore(restore, Restore.Status.FAILED, _clean(error, secrets))
    else:
        _finish_restore(restore, Restore.Status.COMPLETED, "")


def _pick_copy(restore: Restore, backup: Backup, check) -> tuple[BackupCopy | None, str]:
    """Return (a copy that verifies, "") or (None, why there is none); check() may stop it."""
    if restore.source_copy_id:
        copy = restore.source_copy
        if copy is None or copy.backup_id != backup.pk:
            return None, "The chosen copy does not belong to this backup"
        result = check_copy(copy, backup, check)
        return (copy, "") if result.ok else (None, result.message)
    problems = []
    for copy in backup.copies.filter(status=BackupCopy.Status.COMPLETED).select_related("destination"):
        result = check_copy(copy, backup, check)
        if result.ok:
            return copy, ""
        problems.append(result.message)
    if not problems:
        return None, f"Backup #{backup.pk} has no saved copy"
    return None, "; ".join(problems)


def _finish_restore(restore: Restore, status: str, error: str) -> None:
    restore.heartbeat_at = timezone.now()
    restore.save(update_fields=["heartbeat_at"])
    restore.mark_finished(status, error)
    log.info(
        "Restore %s into database %s: %s%s",
        restore.pk,
        restore.target_database_id,
        status,
        f" ({error})" if error else "",
    )
