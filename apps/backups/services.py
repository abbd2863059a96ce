"""What people ask of backups, whichever door they use: the API, the pages, the admin, commands.

Manual backups, verifications, restores, downloads and deletions are decided
here, once, so every front end behaves the same. Requests that take time
(backups, verifications, restores) only queue a run; the worker runs it
(`runner.py`, `verification.py`, `restore.py`) through the lifecycle.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts import roles
from apps.backups.manifest import manifest_name
from apps.backups.models import Backup, BackupCopy, Drill, Restore, Verification
from apps.databases.models import Database
from apps.databases.rules import drill_target_problem
from apps.destinations.storage import StorageError, StorageLocked, storage_for_copy
from apps.engines import get_engine
from apps.keys import services as keys

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
RESTORABLE = frozenset({Backup.Status.COMPLETED, Backup.Status.PARTIAL})
LEGAL_HOLD_RETRY = timedelta(days=1)
NO_DESTINATION = "This database has no enabled destination: add or enable one, then run the backup."


class BackupBusy(Exception):
    """The backup is still pending or running, or a run reads it; it cannot be changed now."""


def _busy_reason(backup: Backup) -> str:
    """Why the backup cannot be deleted now, or "" (call with the backup row locked)."""
    if backup.status in Backup.ACTIVE:
        return f"Backup #{backup.pk} is {backup.status}; it can be deleted once it has finished"
    restore = backup.restores.filter(status__in=Restore.ACTIVE).first()
    if restore is not None:
        return (
            f"Backup #{backup.pk} is being restored (restore #{restore.pk}); delete it once that has finished"
        )
    verification = backup.verifications.filter(status__in=Verification.ACTIVE).first()
    if verification is not None:
        return (
            f"Backup #{backup.pk} is being verified (verification #{verification.pk}); "
            "delete it once that has finished"
        )
    return ""


class NotAvailable(Exception):
    """No copy of the backup can be read (the message says why)."""


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
    knows about. Raises BackupBusy for a backup still pending or running, or
    one that a restore or a verification is reading. The backup row stays
    locked meanwhile, so no restore can be queued for it half-way (the
    restore request takes the same lock).
    """
    with transaction.atomic():
        locked = Backup.objects.select_for_update().filter(pk=backup.pk).first()
        if locked is None:
            return DeleteResult(True, [])
        reason = _busy_reason(locked)
        if reason:
            raise BackupBusy(reason)
        return _delete_locked(locked, delete_files)


def _delete_locked(backup: Backup, delete_files: bool) -> DeleteResult:
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
        except StorageLocked as exc:
            # Object Lock: the copy stays, and retention leaves it alone until the lock ends
            # (a legal hold has no end date: look again a day later).
            failed.append(copy)
            copy.locked_until = exc.until or timezone.now() + LEGAL_HOLD_RETRY
            copy.error = f"Delete refused: {exc}"
            copy.save(update_fields=["error", "locked_until"])
            results.append({**entry, "status": "locked", "message": str(exc)})
            continue
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
    storage.delete(manifest_name(copy.location))
    storage.cleanup_partial(copy.location)
    if existed:
        return "deleted", f"Deleted {copy.location}"
    return "deleted", f"{copy.location} was already gone"


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
            size = _open_size(fh, storage, copy.location)
        except StorageError as exc:
            fh.close()
            problems.append(str(exc))
            continue
        return copy, fh, size
    if not problems:
        raise NotAvailable(f"Backup #{backup.pk} has no saved copy")
    raise NotAvailable("No copy can be read: " + "; ".join(problems))


def _open_size(fh: BinaryIO, storage, location: str) -> int:
    """The size of an open copy: from the reader when it knows (S3, SFTP), the file, or the storage."""
    size = getattr(fh, "size", None)
    if isinstance(size, int):
        return size
    try:
        return os.fstat(fh.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        return storage.size(location)


# -- requests from people ------------------------------------------------------


def request_manual_backup(database, user) -> Backup:
    """Queue a manual backup of a database (status pending), or return the one already pending.

    See queue_manual_backup, which also says whether the backup is new.
    """
    return queue_manual_backup(database, user)[0]


def queue_manual_backup(database, user) -> tuple[Backup, bool]:
    """Queue a manual backup of a database (status pending); the worker runs it. Return (backup, created).

    A database has at most one pending manual backup: while one is pending, a
    second request returns it (created False). The database row is locked
    while checking, so two requests at once queue one backup (SQLite's
    IMMEDIATE transactions serialise them too).

    Raises PermissionDenied below the operator role, and ValidationError
    (field database_id) when the database has no enabled destination: the
    run could only fail.
    """
    if not roles.has_role(user, database.group_id, roles.OPERATE):
        raise PermissionDenied("Starting a backup needs the operator role in this group.")
    if not database.destinations.filter(enabled=True).exists():
        raise ValidationError({"database_id": NO_DESTINATION})
    with transaction.atomic():
        type(database).objects.select_for_update().filter(pk=database.pk).first()
        pending = (
            Backup.objects.filter(
                database=database, trigger=Backup.Trigger.MANUAL, status=Backup.Status.PENDING
            )
            .order_by("id")
            .first()
        )
        if pending is not None:
            return pending, False
        backup = Backup.objects.create(
            database=database,
            trigger=Backup.Trigger.MANUAL,
            status=Backup.Status.PENDING,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
        )
    return backup, True


def _check_restorable(backup: Backup, user) -> None:
    """Restoring needs the operator role in the backup's group and a completed or partial backup."""
    if not roles.has_role(user, backup.database.group_id, roles.OPERATE):
        raise PermissionDenied("Restoring needs the operator role in this group.")
    if backup.status not in RESTORABLE:
        raise ValidationError(
            {
                "backup_id": f"Backup #{backup.pk} is {backup.status}; only completed or partial backups can be restored."
            }
        )


def request_restore(
    backup: Backup, target_database, user, confirm, identity: str | None = None, clean: bool = False
) -> Restore:
    """Queue a restore of a backup into a target database (status pending).

    The target must use the backup's engine, the user must be an operator of
    the target's group, and `confirm` must repeat the target's database_name.
    `clean`: afterwards nothing that is not in the backup remains in the target
    (for engines with a clean restore). Raises ValidationError naming the field at fault.
    """
    _check_restorable(backup, user)
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
    if clean and get_engine(target_database.engine).clean_scope is None:
        raise ValidationError({"clean": f"{target_database.get_engine_display()} has no clean restore."})
    if not isinstance(confirm, str) or confirm != target_database.database_name:
        raise ValidationError(
            {"confirm": "Type the target's database name exactly to confirm that its data will be replaced."}
        )
    identity = _restore_identity(backup, identity)
    return _queue_restore(backup, target_database, user, identity, clean_restore=bool(clean))


def request_restore_as_new(
    backup: Backup, server, user, *, name: str, database_name: str, identity: str | None = None
) -> Restore:
    """Register a new database beside `server` (same engine, host, port, user and password, same group)
    and queue a restore of the backup into it; the worker creates the database first.

    Nothing existing is replaced, so no typed confirmation: the safe way to look at old data. SQLite:
    `database_name` is a new file in the group's SQLite folders. Registering a database needs the
    owner role of the server's group. Raises ValidationError naming the field at fault.
    """
    _check_restorable(backup, user)
    if server is None or not roles.has_role(user, server.group_id, roles.VIEW):
        raise ValidationError({"server_database_id": "Choose a registered database of this backup's engine."})
    if not roles.has_role(user, server.group_id, roles.MANAGE):
        raise ValidationError(
            {"server_database_id": "Registering a new database needs the owner role in the server's group."}
        )
    if server.engine != backup.database.engine:
        raise ValidationError(
            {
                "server_database_id": (
                    f"That server's database uses {server.engine} but the backup is of a "
                    f"{backup.database.engine} database."
                )
            }
        )
    database_name = (database_name or "").strip()
    new = Database(
        group_id=server.group_id,
        name=(name or "").strip(),
        engine=server.engine,
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        options=dict(server.options or {}),
        compression=server.compression,
        timeout_seconds=server.timeout_seconds,
        database_name=database_name,
    )
    new.full_clean()
    if Database.objects.filter(
        engine=new.engine, host=new.host, port=new.port, database_name=new.database_name
    ).exists():
        raise ValidationError(
            {"database_name": "A registered database already uses this name on that server."}
        )
    if new.engine == "sqlite" and os.path.lexists(new.database_name):
        raise ValidationError({"database_name": "A file is already there: a new database needs a new file."})
    identity = _restore_identity(backup, identity)
    with transaction.atomic():
        new.save()
        return _queue_restore(backup, new, user, identity, create_target=True)


def _queue_restore(backup: Backup, target_database, user, identity: str, **fields) -> Restore:
    with transaction.atomic():
        # The same row lock as delete_backup: a backup being deleted cannot gain a restore.
        if not Backup.objects.select_for_update().filter(pk=backup.pk).exists():
            raise ValidationError({"backup_id": f"Backup #{backup.pk} was deleted."})
        return Restore.objects.create(
            backup=backup,
            target_database=target_database,
            identity=identity,
            status=Restore.Status.PENDING,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
            **fields,
        )


def _restore_identity(backup: Backup, identity: str | None) -> str:
    """The secret key to keep with a restore request ("" when none is needed or the group keeps it).

    Raises ValidationError (field identity) when the key given does not open
    the backup, or when an encrypted backup has neither a kept key nor one given.
    """
    if identity:
        if not backup.encrypted:
            raise ValidationError(
                {"identity": f"Backup #{backup.pk} is not encrypted; leave the secret key out."}
            )
        try:
            return keys.clean_identity_for(identity, backup.encryption_recipient)
        except ValidationError as exc:
            raise ValidationError({"identity": exc.messages}) from None
    if backup.encrypted and not _kept_identities(backup):
        raise ValidationError(
            {
                "identity": f"Backup #{backup.pk} is encrypted to {backup.encryption_recipient} and the group "
                "does not keep that secret key: give it (AGE-SECRET-KEY-1…) with the restore."
            }
        )
    return ""


def _kept_identities(backup: Backup) -> list[str]:
    return keys.identities_for(backup.database.group_id, backup.encryption_recipient)


def restore_identities(restore: Restore) -> list[str] | None:
    """The secret keys that open a restore's backup: the one given, else the group's kept ones.

    None for a backup that is not encrypted.
    """
    backup = restore.backup
    if backup is None or not backup.encrypted:
        return None
    if restore.identity:
        return [restore.identity]
    return _kept_identities(backup)


def request_verification(backup: Backup, user) -> Verification:
    """Queue a verification of every saved copy (the worker runs it); return it.

    A verification already pending or running for this backup is returned
    instead of queuing a second one. Raises PermissionDenied below the
    operator role and BackupBusy for a backup that has not finished.
    """
    if not roles.has_role(user, backup.database.group_id, roles.OPERATE):
        raise PermissionDenied("Verifying needs the operator role in this group.")
    if backup.status in Backup.ACTIVE:
        raise BackupBusy(f"Backup #{backup.pk} is {backup.status}; it can be verified once it has finished")
    with transaction.atomic():
        if not Backup.objects.select_for_update().filter(pk=backup.pk).exists():
            raise BackupBusy(f"Backup #{backup.pk} was deleted")
        active = backup.verifications.filter(status__in=Verification.ACTIVE).first()
        if active is not None:
            return active
        return Verification.objects.create(
            backup=backup,
            status=Verification.Status.PENDING,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
        )


def latest_verification(backup: Backup) -> Verification | None:
    """The newest verification of a backup (uses verify_backup_created_idx), or None."""
    return backup.verifications.order_by("-created_at", "-id").first()


def request_drill(backup: Backup, target, user=None) -> Drill:
    """Queue a restore drill of a backup into a scratch database (pending); the worker runs it.

    `user` None means the system (a schedule's drill after its backup).
    Raises PermissionDenied below the operator role and ValidationError naming
    the field at fault.
    """
    if user is not None and not roles.has_role(user, backup.database.group_id, roles.OPERATE):
        raise PermissionDenied("A drill needs the operator role in this group.")
    if backup.status not in RESTORABLE:
        raise ValidationError(
            {
                "backup_id": f"Backup #{backup.pk} is {backup.status}; only completed or partial backups can be drilled."
            }
        )
    if target is None:
        raise ValidationError({"target_database_id": "This field is required."})
    problem = drill_target_problem(backup.database, target)
    if problem:
        raise ValidationError({"target_database_id": problem})
    if backup.encrypted and not _kept_identities(backup):
        raise ValidationError(
            {
                "backup_id": f"Backup #{backup.pk} is encrypted and its group does not keep the secret key: "
                "a drill cannot decrypt it."
            }
        )
    return Drill.objects.create(
        backup=backup,
        target_database=target,
        status=Drill.Status.PENDING,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
    )


def last_proven_restorable(database) -> Drill | None:
    """The newest passed drill of a database's backups (uses drill_backup_finished_idx), or None."""
    return (
        Drill.objects.filter(backup__database=database, status=Drill.Status.PASSED)
        .order_by("-finished_at", "-id")
        .first()
    )
