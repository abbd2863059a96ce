"""How each destination of a database is doing, for the database page: its newest copy's result, its
newest verification, and free space (local folders).

One query for the rows (each column a subquery that the copy indexes answer with one probe per
destination), plus one `disk_usage` per enabled local folder; never a query per destination.
"""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from apps.backups.models import BackupCopy
from apps.destinations.models import Destination
from apps.destinations.storage import StorageError, get_storage

# A verification that found one of these leaves the destination red until a later one passes.
BAD_CHECKS = frozenset({BackupCopy.Check.MISSING, BackupCopy.Check.CORRUPT, BackupCopy.Check.UNREACHABLE})
FINISHED_COPIES = (BackupCopy.Status.COMPLETED, BackupCopy.Status.FAILED)


def with_health(destinations: QuerySet) -> QuerySet:
    """Annotate last_copy_{status,error,at,backup_id} and last_verify_{status,message,at}."""
    copies = BackupCopy.objects.filter(destination=OuterRef("pk"), status__in=FINISHED_COPIES).order_by("-id")
    checks = BackupCopy.objects.filter(destination=OuterRef("pk"), verified_at__isnull=False).order_by(
        "-verified_at", "-id"
    )
    return destinations.annotate(
        last_copy_status=Subquery(copies.values("status")[:1]),
        last_copy_error=Subquery(copies.values("error")[:1]),
        last_copy_at=Subquery(copies.values("backup__created_at")[:1]),
        last_copy_backup_id=Subquery(copies.values("backup_id")[:1]),
        last_verify_status=Subquery(checks.values("verify_status")[:1]),
        last_verify_message=Subquery(checks.values("verify_message")[:1]),
        last_verify_at=Subquery(checks.values("verified_at")[:1]),
    )


def health_of(destinations) -> list[Destination]:
    """The destinations as a list, each with `failing` (its last copy or last verify failed),
    `failing_reason` and `free_bytes` (local folders, else None)."""
    rows = list(destinations)
    for dest in rows:
        copy_failed = dest.last_copy_status == BackupCopy.Status.FAILED
        verify_failed = dest.last_verify_status in BAD_CHECKS
        dest.failing = copy_failed or verify_failed
        dest.failing_reason = (
            "last copy failed" if copy_failed else "last verify failed" if verify_failed else ""
        )
        dest.free_bytes = _free_bytes(dest)
    return rows


def _free_bytes(dest: Destination) -> int | None:
    if dest.kind != Destination.Kind.LOCAL:
        return None
    try:
        return get_storage(dest).free_bytes()
    except StorageError:
        return None
