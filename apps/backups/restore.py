"""Run one restore end to end: pick a copy that verifies, stream it into the target, record it.

`run_restore(restore)` is what the worker, `manage.py restore` and the
tests call. It never raises for an ordinary failure: the row ends in a
terminal status with the tool's message, secrets masked. Status changes go
through the lifecycle (compare-and-set, one `run_finished` event).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from apps.backups import compression as codecs
from apps.backups import encryption, lifecycle
from apps.backups.models import Backup, BackupCopy, Restore
from apps.backups.runner import clean_error, timeout_for
from apps.backups.services import RESTORABLE, restore_identities
from apps.backups.streams import CheckedReader, Deadline, HashingReader, Prefetcher, Stop, Workdir
from apps.backups.verification import check_copy
from apps.destinations.storage import StorageError, storage_for_copy
from apps.engines import get_engine
from apps.engines.base import EngineError

log = logging.getLogger(__name__)


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
    if not lifecycle.start(restore):
        return restore
    cancel = cancel if cancel is not None else lifecycle.Cancel()
    secrets: list[str] = []
    try:
        target = restore.target_database
        conn = target.connection_info()
        secrets.extend(conn.secrets)
        _run_restore(restore, target, conn, secrets, cancel, on_progress)
    except Exception as exc:
        log.exception("Restore %s failed unexpectedly", restore.pk)
        _finish_restore(restore, Restore.Status.FAILED, clean_error(f"Internal error: {exc}", secrets))
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
    identities = restore_identities(restore)
    if backup.encrypted and not identities:
        _finish_restore(
            restore,
            Restore.Status.FAILED,
            f"Backup #{backup.pk} is encrypted to {backup.encryption_recipient} and no secret key for it "
            "was given or is kept by the group",
        )
        return
    timeout = timeout_for(target)
    deadline = Deadline(timeout, cancel)

    try:
        copy, problem = _pick_copy(restore, backup, deadline.check)
    except Stop as exc:
        copy, problem = None, str(exc)
    if copy is None:
        _finish_restore(restore, Restore.Status.FAILED, clean_error(problem, secrets))
        return
    if restore.source_copy_id != copy.pk:
        restore.source_copy = copy
        restore.save(update_fields=["source_copy"])

    engine = get_engine(target.engine)
    try:
        fh = storage_for_copy(copy).open_reader(copy.location)
    except StorageError as exc:
        _finish_restore(restore, Restore.Status.FAILED, clean_error(str(exc), secrets))
        return
    source = HashingReader(fh, deadline)
    try:
        # A wrong key fails here, on the file's header, before the target is touched.
        stored = encryption.open_stored(source, backup.compression, identities)
    except (encryption.AgeError, Stop, OSError) as exc:
        source.close()
        _finish_restore(restore, Restore.Status.FAILED, clean_error(_read_error(copy, exc), secrets))
        return
    error = ""
    with Workdir() as workdir, source:
        prefetch = Prefetcher(stored)
        dump = CheckedReader(
            prefetch,
            deadline,
            progress=lambda: source.size,
            on_progress=lambda n: _progress(restore, n, cancel, on_progress),
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
        except Stop as exc:
            error = str(exc)
        except EngineError as exc:
            error = deadline.reason or str(exc)
        except (codecs.CompressionError, encryption.AgeError, OSError) as exc:
            error = _read_error(copy, exc)

    restore.bytes_done = source.size
    if not error and (
        source.size != backup.size_bytes or source.digest.hexdigest() != backup.checksum_sha256
    ):
        error = (
            f"The copy at {copy.location} changed while it was being restored: sha256 differs; "
            "the target database may hold partly restored data"
        )
    if error:
        _finish_restore(restore, Restore.Status.FAILED, clean_error(error, secrets))
    else:
        _finish_restore(restore, Restore.Status.COMPLETED, "")


def _read_error(copy: BackupCopy, exc: BaseException) -> str:
    if isinstance(exc, codecs.CompressionError):
        return f"The copy at {copy.location} cannot be decompressed: {exc}"
    if isinstance(exc, encryption.AgeError):
        return f"The copy at {copy.location} cannot be decrypted: {exc}"
    if isinstance(exc, OSError):
        return f"Cannot read {copy.location}: {exc.strerror or exc}"
    return str(exc)


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


def _progress(restore: Restore, done: int, cancel, on_progress) -> None:
    if not lifecycle.save_progress(restore, done):
        lifecycle.stop(cancel, lifecycle.LOST)  # reaped by another worker: stop loading
    elif on_progress is not None:
        on_progress(done)


def _finish_restore(restore: Restore, status: str, error: str) -> None:
    if lifecycle.finish(restore, status, error, fields={"bytes_done": restore.bytes_done}):
        log.info(
            "Restore %s into database %s: %s%s",
            restore.pk,
            restore.target_database_id,
            status,
            f" ({error})" if error else "",
        )
    else:
        restore.refresh_from_db()
