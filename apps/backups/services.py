"""What the API, the HTML views, the admin and the worker do with backups.

Verify, delete, download and restore requests live here so every front end
behaves the same; running a backup or a restore lives in `runner.py`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from typing import BinaryIO

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts import roles
from apps.backups.models import Backup, BackupCopy, Restore
from apps.destinations.storage import (
    StorageError,
    StorageMissing,
    storage_for_copy,
)

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
RESTORABLE = frozenset({Backup.Status.COMPLETED, Backup.Status.PARTIAL})


class BackupBusy(Exception):
    """The backup is still pending or running; it cannot be changed now."""


class NotAvailable(Exception):
    """No copy of the backup can be read (the message says why)."""


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


def hash_stream(fh: BinaryIO, chunk_size: int = READ_CHUNK, check=None) -> tuple[int, str]:
    """Return (size, sha256 hex) of everything left in a stream, reading it in chunks.

    `check()`, when given, is called before each chunk and may raise to stop.
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
    return size, digest.hexdigest()


def check_copy(copy: BackupCopy, backup: Backup | None = None, check=None) -> CopyCheck:
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
            size, sha = hash_stream(fh, check=check)
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


# -- verify --------------------------------------------------------------------


def verify_backup(backup: Backup) -> list[dict]:
    """Re-read every completed copy (size + sha256); store and return each result.

    Returns `[{destination_id, destination_name, status, message}]` with status
    ok | missing | corrupt | unreachable. Raises BackupBusy for a backup that
    has not finished, and returns [] for one that has no completed copy.
    """
    if backup.status in Backup.ACTIVE:
        raise BackupBusy(f"Backup #{backup.pk} is {backup.status}; it can be verified once it has finished")
    results = []
    for copy in backup.copies.filter(status=BackupCopy.Status.COMPLETED).select_related("destination"):
        check = check_copy(copy, backup)
        copy.verify_status = check.status
        copy.verify_message = check.message
        copy.verified_at = timezone.now()
        copy.save(update_fields=["verify_status", "verify_message", "verified_at"])
        results.append(
            {
                "destination_id": copy.destination_id,
                "destination_name": copy.destination_name,
                "status": str(check.status),
                "message": check.message,
            }
        )
    return results


# -- delete --------------------------------------------------------------------


@dataclass
class DeleteResult:
    """`deleted` is True when the backup record is gone; `results` say what happened per copy."""

    deleted: bool
    results: list[dict]


def delete_backup(backup: Backup, delete_files: bool) -> DeleteResult:
    """Delete a backup, and its files at every destination when asked.

    A copy whose file could not be deleted stays on record (with the reason in
    its error), and so does the backup: no file becomes an orphan nobody
    knows about. Raises BackupBusy for a backup still pending or running.
    """
    if backup.status in Backup.ACTIVE:
        raise BackupBusy(f"Backup #{backup.pk} is {backup.status}; it can be deleted once it has finished")
    results: list[dict] = []
    failed: list[BackupCopy] = []
    gone: list[int] = []
    for copy in backup.copies.select_related("destination"):
        entry = {
            "destination_id": copy.destination_id,
            "destination_name": copy.destination_name,
        }
        if not delete_files:
            results.append({**entry, "status": "kept", "message": f"File left at {copy.location}"})
            continue
        try:
            status, message = _delete_copy_file(copy)
        except StorageError as exc:
            failed.append(copy)
            copy.error = f"Delete failed: {exc}"
            copy.save(update_fields=["error"])
            results.append({**entry, "status": "failed", "message": str(exc)})
            continue
        gone.append(copy.pk)
        results.append({**entry, "status": status, "message": message})
    if failed:
        BackupCopy.objects.filter(pk__in=gone).delete()
        return DeleteResult(False, results)
    backup.delete()
    return DeleteResult(True, results)


def _delete_copy_file(copy: BackupCopy) -> tuple[str, str]:
    if not copy.location:
        return "deleted", "No file was written"
    storage = storage_for_copy(copy)
    existed = storage.exists(copy.location)
    storage.delete(copy.location)
    storage.cleanup_partial(copy.location)
    if existed:
        return "deleted", f"Deleted {copy.location}"
    return "deleted", f"{copy.location} was already gone"


def cleanup_partials(backup: Backup) -> list[str]:
    """Remove `<location>.partial` left by a crashed run at each destination; return what went."""
    removed = []
    for copy in backup.copies.select_related("destination"):
        if not copy.location:
            continue
        try:
            if storage_for_copy(copy).cleanup_partial(copy.location):
                removed.append(copy.location + ".partial")
        except StorageError as exc:
            log.warning("Cannot remove the partial file of backup %s: %s", backup.pk, exc)
    return removed


# -- download ------------------------------------------------------------------


def open_copy_for_download(
    backup: Backup, destination_id: int | None = None
) -> tuple[BackupCopy, BinaryIO, int]:
    """Return (copy, open file, size) of the named copy, or of the first copy present.

    Raises NotAvailable (with the reason) when there is no such copy or none
    can be read. The caller closes the file.
    """
    copies = backup.copies.filter(status=BackupCopy.Status.COMPLETED).select_related("destination")
    if destination_id is not None:
        copies = copies.filter(destination_id=destination_id)
        if not copies:
            raise NotAvailable(f"Backup #{backup.pk} has no saved copy at destination {destination_id}")
    problems = []
    for copy in copies:
        try:
            storage = storage_for_copy(copy)
            fh = storage.open_reader(copy.location)
        except StorageError as exc:
            problems.append(str(exc))
            continue
        try:
            size = os.fstat(fh.fileno()).st_size
        except (OSError, AttributeError, ValueError):
            size = storage.size(copy.location)
        return copy, fh, size
    if not problems:
        raise NotAvailable(f"Backup #{backup.pk} has no saved copy")
    raise NotAvailable("No copy can be read: " + "; ".join(problems))


# -- requests from people ------------------------------------------------------


def request_manual_backup(database, user) -> Backup:
    """Queue a manual backup of a database (status pending); the worker runs it."""
    if not roles.has_role(user, database.group_id, roles.OPERATE):
        raise PermissionDenied("Starting a backup needs the operator role in this group.")
    return Backup.objects.create(
        database=database,
        trigger=Backup.Trigger.MANUAL,
        status=Backup.Status.PENDING,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
    )


def request_restore(backup: Backup, target_database, user, confirm) -> Restore:
    """Queue a restore of a backup into a target database (status pending).

    The target must use the backup's engine, the user must be an operator of
    the target's group, and `confirm` must repeat the target's database_name.
    Raises ValidationError naming the field at fault.
    """
    if not roles.has_role(user, backup.database.group_id, roles.OPERATE):
        raise PermissionDenied("Restoring needs the operator role in this group.")
    if backup.status not in RESTORABLE:
        raise ValidationError(
            {
                "backup_id": f"Backup #{backup.pk} is {backup.status}; only completed or partial backups can be restored."
            }
        )
    if target_database is None:
        raise ValidationError({"target_database_id": "This field is required."})
    if not roles.has_role(user, target_database.group_id, roles.VIEW):
        raise ValidationError({"target_database_id": f"Database {target_database.pk} does not exist."})
    if not roles.has_role(user, target_database.group_id, roles.OPERATE):
        raise ValidationError(
            {"target_database_id": "Restoring into this database needs the operator role in its group."}
        )
    if target_database.engine != backup.database.engine:
        raise ValidationError(
            {
                "target_database_id": (
                    f"The target uses {target_database.engine} but the backup is of a "
                    f"{backup.database.engine} database; choose a {backup.database.engine} database."
                )
            }
        )
    if not isinstance(confirm, str) or confirm != target_database.database_name:
        raise ValidationError(
            {"confirm": "Type the target's database name exactly to confirm that its data will be replaced."}
        )
    with transaction.atomic():
        return Restore.objects.create(
            backup=backup,
            target_database=target_database,
            status=Restore.Status.PENDING,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
        )
