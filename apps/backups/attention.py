"""Which databases need attention, and acknowledging them.

A database needs attention while its newest finished backup failed, is partial, or has a copy
that a verification found missing or damaged. It stays there until a newer backup finishes well
(then that one is the newest) or someone with the operator role acknowledges that backup; the
next bad backup is not acknowledged, so the database shows again.

The newest finished backup of each database is one correlated subquery on backup_db_created_idx
(database, -created_at): a few index rows per database, whatever the size of the table.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from apps.accounts import roles
from apps.backups.models import Acknowledgement, Backup, BackupCopy
from apps.databases.models import Database

BAD_STATUSES = (Backup.Status.FAILED, Backup.Status.PARTIAL)
DAMAGED_CHECKS = (BackupCopy.Check.MISSING, BackupCopy.Check.CORRUPT)
NOTE_MAX: int = Acknowledgement._meta.get_field("note").max_length or 500


def _newest_finished(database_ref) -> Subquery:
    return Subquery(
        Backup.objects.filter(database=database_ref, status__in=Backup.TERMINAL)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )


def _damaged_copy() -> Exists:
    return Exists(BackupCopy.objects.filter(backup=OuterRef("pk"), verify_status__in=DAMAGED_CHECKS))


def troubled_backups(user) -> QuerySet[Backup]:
    """The newest finished backup of each database the user sees, when it is bad (acknowledged or not).

    Annotated with `damaged` (a copy missing or corrupt); the acknowledgement, if any, is
    select_related. Newest first.
    """
    newest = Database.objects.visible_to(user).annotate(newest_id=_newest_finished(OuterRef("pk")))
    return (
        Backup.objects.filter(id__in=newest.values("newest_id"))
        .annotate(damaged=_damaged_copy())
        .filter(Q(status__in=BAD_STATUSES) | Q(damaged=True))
        .select_related("database", "database__group", "acknowledgement", "acknowledgement__acknowledged_by")
        .order_by("-created_at", "-id")
    )


def needs_attention(user, limit: int = 10, acknowledged_limit: int = 5) -> dict:
    """Counts and the first rows of the unacknowledged and acknowledged troubles, in two queries.

    The first reads only (id, acknowledged when) of every troubled backup (at most one per
    database); the second loads the few rows shown, by primary key.
    """
    pairs = list(troubled_backups(user).values_list("id", "acknowledgement__acknowledged_at"))
    open_ids = [pk for pk, acked_at in pairs if acked_at is None]
    acked = sorted(((at, pk) for pk, at in pairs if at is not None), reverse=True)
    acked_ids = [pk for _, pk in acked]
    shown = open_ids[:limit] + acked_ids[:acknowledged_limit]
    by_id: dict[int, Backup] = {}
    if shown:
        rows = (
            Backup.objects.filter(pk__in=shown)
            .annotate(damaged=_damaged_copy())
            .select_related(
                "database", "database__group", "acknowledgement", "acknowledgement__acknowledged_by"
            )
        )
        by_id = {b.pk: b for b in rows}
    return {
        "open": [by_id[pk] for pk in open_ids[:limit] if pk in by_id],
        "open_count": len(open_ids),
        "acknowledged": [by_id[pk] for pk in acked_ids[:acknowledged_limit] if pk in by_id],
        "acknowledged_count": len(acked_ids),
    }


def is_troubled(backup: Backup) -> bool:
    """True if `backup` is the newest finished backup of its database and is bad."""
    return (
        Backup.objects.filter(pk=backup.pk, id=_newest_finished(backup.database_id))
        .annotate(damaged=_damaged_copy())
        .filter(Q(status__in=BAD_STATUSES) | Q(damaged=True))
        .exists()
    )


def acknowledge(backup: Backup, user, note: str = "") -> Acknowledgement:
    """Record that `user` saw this bad backup; return the acknowledgement (an existing one is returned).

    Raises PermissionDenied below the operator role in the backup's group and ValidationError
    when the backup is not (or no longer) the bad newest finished backup of its database.
    """
    if not roles.has_role(user, backup.database.group_id, roles.OPERATE):
        raise PermissionDenied("Acknowledging needs the operator role in this group.")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": f"Keep the note under {NOTE_MAX} characters."})
    existing = Acknowledgement.objects.filter(backup=backup).first()
    if existing is not None:
        return existing
    if not is_troubled(backup):
        raise ValidationError(
            f"Backup #{backup.pk} does not need attention: a newer backup finished, or it went well."
        )
    try:
        with transaction.atomic():
            return Acknowledgement.objects.create(
                backup=backup,
                acknowledged_by=user if getattr(user, "is_authenticated", False) else None,
                note=note,
            )
    except IntegrityError:  # two people pressed at once: the first one counts
        return Acknowledgement.objects.get(backup=backup)
