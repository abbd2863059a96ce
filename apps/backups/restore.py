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
from apps.backups.streams import (
    CheckedReader,
    Deadline,
    HashingReader,
    Prefetcher,
    Stop,
    VerifiedTail,
    Workdir,
)
from apps.backups.verification import CopyCheck, check_copy
from apps.common.masking import tail
from apps.destinations.storage import StorageError, StorageMissing, storage_for_copy
from apps.engines import get_engine
from apps.engines.base import EngineError

log = logging.getLogger(__name__)

# The end of a tool's output kept with each copy tried (its warnings, for the restore's page).
MESSAGES_KEPT = 4000


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
    engine = get_engine(target.engine)
    if restore.clean_restore and getattr(engine, "clean_scope", None) is None:
        _finish_restore(restore, Restore.Status.FAILED, f"{target.engine} has no clean restore")
        return
    if restore.create_target:
        try:
            engine.create_database(conn, timeout=min(timeout, 60))
        except EngineError as exc:
            _finish_restore(
                restore,
                Restore.Status.FAILED,
                clean_error(f"The new database could not be created: {exc}", secrets),
            )
            return
    # Atomic engines are verified while the copy streams in (one pass, the end held back until
    # the checksum matched); the others are verified in a first pass before the target is touched.
    one_pass = bool(getattr(engine, "atomic_restore", False))

    if not one_pass:
        try:
            copy, problem = _pick_copy(restore, backup, deadline.check)
        except Stop as exc:
            copy, problem = None, str(exc)
        candidates = [copy] if copy is not None else []
    else:
        candidates, problem = _present_copies(restore, backup)
    # Copies already missing are said too, before what went wrong with the ones tried.
    problems = [problem] if problem else []
    for copy in candidates:
        if restore.source_copy_id != copy.pk:
            restore.source_copy = copy
            restore.save(update_fields=["source_copy"])
        error, copy_at_fault, said = _restore_from(
            restore, copy, engine, conn, identities, deadline, cancel, on_progress, one_pass
        )
        attempt = {
            "copy_id": copy.pk,
            "destination_name": copy.destination_name,
            "location": copy.location,
            "result": clean_error(error, secrets) if error else "",
        }
        if isinstance(said, str) and said.strip():
            attempt["messages"] = clean_error(tail(said.strip(), MESSAGES_KEPT), secrets)
        restore.attempts = [*restore.attempts, attempt]
        restore.save(update_fields=["attempts"])
        if not error:
            _finish_restore(restore, Restore.Status.COMPLETED, "")
            return
        problems.append(error)
        # The target was left as it was and the fault is this copy's: another copy may do.
        if not (one_pass and copy_at_fault):
            break
    _finish_restore(restore, Restore.Status.FAILED, clean_error("; ".join(problems), secrets))


class _CopyCorrupt(Stop):
    """The copy streamed into an atomic restore did not match its record (the tail was withheld)."""


def _restore_from(
    restore, copy, engine, conn, identities, deadline, cancel, on_progress, one_pass
) -> tuple[str, bool, str]:
    """Stream one copy into the target; return (the error or "", whether the copy is at fault, what the
    tool said)."""
    backup = restore.backup
    try:
        fh = storage_for_copy(copy).open_reader(copy.location)
    except StorageError as exc:
        return str(exc), True, ""
    source = HashingReader(fh, deadline)
    try:
        # A wrong key fails here, on the file's header, before the target is touched.
        stored = encryption.open_stored(source, backup.compression, identities)
    except (encryption.AgeError, Stop, OSError) as exc:
        source.close()
        return _read_error(copy, exc), isinstance(exc, OSError), ""
    if one_pass:

        def verify_whole_copy() -> None:
            source.drain()
            if source.size != backup.size_bytes or source.digest.hexdigest() != backup.checksum_sha256:
                raise _CopyCorrupt(
                    f"The copy at {copy.location} is corrupt (its size or sha256 differs from the record); "
                    "the restore was stopped before its end, so the target was not changed"
                )

        stored = VerifiedTail(stored, verify_whole_copy)  # type: ignore[assignment]  # a readable stream
    error, copy_at_fault, said = "", False, ""
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
                said = (
                    engine.restore(
                        conn,
                        dump,
                        timeout=max(1, int(deadline.deadline - time.monotonic())),
                        workdir=workdir,
                        # Only said when asked: an engine without a clean restore takes no such argument.
                        **({"clean": True} if restore.clean_restore else {}),
                    )
                    or ""
                )
            finally:
                prefetch.close()
            source.drain()
        except _CopyCorrupt as exc:
            error, copy_at_fault = str(exc), True
        except Stop as exc:
            error = str(exc)
        except EngineError as exc:
            error = deadline.reason or str(exc)
        except (codecs.CompressionError, encryption.AgeError, OSError) as exc:
            error, copy_at_fault = _read_error(copy, exc), True

    restore.bytes_done = source.size
    if not error and (
        source.size != backup.size_bytes or source.digest.hexdigest() != backup.checksum_sha256
    ):
        error = (
            f"The copy at {copy.location} changed while it was being restored: sha256 differs; "
            "the target database may hold partly restored data"
        )
    return error, copy_at_fault, said


def _present_copies(restore: Restore, backup: Backup) -> tuple[list[BackupCopy], str]:
    """The copies an atomic restore may try, in order (the chosen one only), or why there is none."""
    if restore.source_copy_id:
        copy = restore.source_copy
        if copy is None or copy.backup_id != backup.pk:
            return [], "The chosen copy does not belong to this backup"
        result = _present(copy)
        return ([copy], "") if result.ok else ([], result.message)
    copies, problems = [], []
    for copy in backup.copies.filter(status=BackupCopy.Status.COMPLETED).select_related("destination"):
        result = _present(copy)
        if result.ok:
            copies.append(copy)
        else:
            problems.append(result.message)
    if not copies and not problems:
        return [], f"Backup #{backup.pk} has no saved copy"
    return copies, "; ".join(problems)


def _read_error(copy: BackupCopy, exc: BaseException) -> str:
    if isinstance(exc, codecs.CompressionError):
        return f"The copy at {copy.location} cannot be decompressed: {exc}"
    if isinstance(exc, encryption.AgeError):
        return f"The copy at {copy.location} cannot be decrypted: {exc}"
    if isinstance(exc, OSError):
        return f"Cannot read {copy.location}: {exc.strerror or exc}"
    return str(exc)


def _pick_copy(restore: Restore, backup: Backup, check) -> tuple[BackupCopy | None, str]:
    """Return (a copy that verifies, "") or (None, why there is none); check() may stop it.

    For engines whose restore is not atomic: the whole copy is read and checked
    (size + sha256) before the target is touched.
    """
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
    if not lifecycle.finish(restore, status, error, fields={"bytes_done": restore.bytes_done}):
        restore.refresh_from_db()


def _present(copy: BackupCopy) -> CopyCheck:
    """Is the copy's file there with the recorded size? (No read: the restore verifies as it streams.)"""
    where = copy.location or copy.destination_name
    try:
        size = storage_for_copy(copy).size(copy.location)
    except StorageMissing:
        return CopyCheck(BackupCopy.Check.MISSING, f"File {where} is missing")
    except StorageError as exc:
        return CopyCheck(BackupCopy.Check.UNREACHABLE, str(exc))
    if copy.backup.size_bytes is not None and size != copy.backup.size_bytes:
        return CopyCheck(
            BackupCopy.Check.CORRUPT,
            f"Copy at {where} is corrupt: size {size} differs from the recorded {copy.backup.size_bytes}",
        )
    return CopyCheck(BackupCopy.Check.OK, "Present with the recorded size")
