"""Verification: re-read each saved copy of a backup as a stream and compare its size and sha256.

`check_copy` is shared with restores (which pick a copy that verifies).
`run_verification` runs one Verification to its end, like the backup and
restore runners: claimed by a worker, heartbeated through its progress,
stopped by a deadline or a cancel, finished through the lifecycle.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.utils import timezone

from apps.backups import lifecycle
from apps.backups.models import Backup, BackupCopy, Verification
from apps.backups.streams import PROGRESS_INTERVAL, READ_CHUNK, Deadline, Stop
from apps.destinations.storage import StorageError, StorageMissing, storage_for_copy

log = logging.getLogger(__name__)


@dataclass
class CopyCheck:
    """The result of re-reading one copy."""

    status: str  # BackupCopy.Check values
    message: str
    size: int = 0
    sha256: str = ""

    @property
    def ok(self) -> bool:
        return self.status == BackupCopy.Check.OK


def hash_stream(
    fh: BinaryIO,
    chunk_size: int = READ_CHUNK,
    check: Callable[[], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[int, str]:
    """Return (size, sha256 hex) of everything left in a stream, reading it in chunks.

    `check()`, when given, is called before each chunk and may raise to stop;
    `on_bytes(n)` is told of every chunk read (progress).
    """
    digest = hashlib.sha256()
    size = 0
    while True:
        if check is not None:
            check()
        chunk = fh.read(chunk_size)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        if on_bytes is not None:
            on_bytes(len(chunk))
    return size, digest.hexdigest()


def check_copy(
    copy: BackupCopy,
    backup: Backup | None = None,
    check: Callable[[], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> CopyCheck:
    """Re-read a copy as a stream and compare its size and sha256 with the backup's."""
    backup = backup or copy.backup
    where = copy.location or copy.destination_name
    try:
        storage = storage_for_copy(copy)
        fh = storage.open_reader(copy.location)
    except StorageMissing:
        return CopyCheck(BackupCopy.Check.MISSING, f"File {where} is missing")
    except StorageError as exc:
        return CopyCheck(BackupCopy.Check.UNREACHABLE, str(exc))
    try:
        with fh:
            size, sha = hash_stream(fh, check=check, on_bytes=on_bytes)
    except OSError as exc:
        return CopyCheck(BackupCopy.Check.UNREACHABLE, f"Cannot read {where}: {exc.strerror or exc}")
    if backup.size_bytes is not None and size != backup.size_bytes:
        return CopyCheck(
            BackupCopy.Check.CORRUPT,
            f"Copy at {where} is corrupt: size {size} differs from the recorded {backup.size_bytes}",
            size,
            sha,
        )
    if sha != backup.checksum_sha256:
        return CopyCheck(
            BackupCopy.Check.CORRUPT,
            f"Copy at {where} is corrupt: sha256 differs",
            size,
            sha,
        )
    return CopyCheck(BackupCopy.Check.OK, "Size and sha256 match", size, sha)


def run_verification(
    verification: Verification,
    *,
    cancel: threading.Event | None = None,
) -> Verification:
    """Re-read every completed copy of the backup; record each result; return it terminal.

    The run completes (with ok True or False) whatever the copies say: a
    missing or corrupt copy is a finding, not a failure of the run. It fails
    only when it is stopped (deadline, cancel) or breaks.
    """
    if not lifecycle.start(verification):
        return verification
    cancel = cancel or lifecycle.Cancel()
    try:
        _run_verification(verification, cancel)
    except Exception as exc:
        log.exception("Verification %s failed unexpectedly", verification.pk)
        lifecycle.finish(verification, Verification.Status.FAILED, f"Internal error: {exc}")
    return verification


def _run_verification(verification: Verification, cancel: threading.Event) -> None:
    backup = verification.backup
    deadline = Deadline(int(settings.BM_BACKUP_TIMEOUT), cancel, what="Verification")
    done = 0
    last = time.monotonic()

    def progress(n: int) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last >= PROGRESS_INTERVAL:
            last = time.monotonic()
            if not lifecycle.save_progress(verification, done):
                cancel.set()  # reaped by another worker: stop reading

    checked: list[tuple[BackupCopy, CopyCheck]] = []
    try:
        for copy in backup.copies.filter(status=BackupCopy.Status.COMPLETED).select_related("destination"):
            checked.append((copy, check_copy(copy, backup, deadline.check, progress)))
    except Stop as exc:
        lifecycle.finish(verification, Verification.Status.FAILED, str(exc), fields={"bytes_done": done})
        return
    results: list[dict[str, Any]] = [
        {
            "destination_id": copy.destination_id,
            "destination_name": copy.destination_name,
            "status": str(result.status),
            "message": result.message,
        }
        for copy, result in checked
    ]

    def record_on_copies() -> None:
        now = timezone.now()
        for copy, result in checked:
            BackupCopy.objects.filter(pk=copy.pk).update(
                verify_status=result.status, verify_message=result.message, verified_at=now
            )

    ok = bool(checked) and all(result.ok for _, result in checked)
    lifecycle.finish(
        verification,
        Verification.Status.COMPLETED,
        "" if checked else f"Backup #{backup.pk} has no saved copy to verify",
        fields={"ok": ok, "results": results, "bytes_done": done},
        then=record_on_copies,
    )


def verify_now(backup: Backup) -> Verification:
    """Verify a backup in the caller's thread (commands, tests); return the finished verification.

    People's requests go through `services.request_verification`, which only
    queues the run for a worker.
    """
    verification = Verification.objects.create(backup=backup, status=Verification.Status.PENDING)
    return run_verification(verification)
