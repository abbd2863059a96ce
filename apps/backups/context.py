"""What the pages show of a database's backups: rows with their copies' marks, restores, verifications.

Used by the database page (apps/databases/views.py) and the activity fragment it polls, so
neither imports the other's views.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from apps.backups.models import Backup, BackupCopy, Drill, Restore, Verification
from apps.databases.models import Database

# The database page shows the newest rows; the backups page (filtered to the database) has them all.
BACKUP_ROWS = 20
# A backup's links in a row of the table, reversed once per page instead of once per row.
ROW_URLS = ("detail", "verify", "download", "restore", "delete")
_MARKER = 987654321
PROBLEM_CHECKS = {BackupCopy.Check.MISSING, BackupCopy.Check.CORRUPT, BackupCopy.Check.UNREACHABLE}


# --- shared pieces ---------------------------------------------------------------


def copy_indicator(copy: BackupCopy) -> dict:
    """How one copy shows in the table: saved ✓, failed ✗, missing/damaged ⚠ (after verify), running …"""
    if copy.verify_status in PROBLEM_CHECKS:
        label = {"missing": "file missing", "corrupt": "file damaged", "unreachable": "unreachable"}[
            copy.verify_status
        ]
        return {"css": "missing", "mark": "⚠", "label": label}
    if copy.status == BackupCopy.Status.COMPLETED:
        verified = " and verified" if copy.verify_status == BackupCopy.Check.OK else ""
        return {"css": "saved", "mark": "✓", "label": f"saved{verified}"}
    if copy.status == BackupCopy.Status.FAILED:
        return {"css": "failed", "mark": "✗", "label": "failed"}
    return {"css": "running", "mark": "…", "label": "writing"}


def row_urls() -> dict[str, tuple[str, str]]:
    """Each of a backup's ROW_URLS as the text before and after its id (one reverse() per name)."""
    found = {}
    for name in ROW_URLS:
        head, _, tail = reverse(f"backups:{name}", args=[_MARKER]).partition(str(_MARKER))
        found[name] = (head, tail)
    return found


def decorate(backup: Backup, urls: dict[str, tuple[str, str]] | None = None) -> Any:
    """The backup with `copy_list` (each copy with its `indicator`) and `downloadable`, for templates."""
    row: Any = backup
    row.copy_list = list(backup.copies.all())
    for copy in row.copy_list:
        copy.indicator = copy_indicator(copy)
    row.downloadable = any(c.status == BackupCopy.Status.COMPLETED for c in row.copy_list)
    if urls is not None:
        row.urls = {name: f"{head}{backup.pk}{tail}" for name, (head, tail) in urls.items()}
    return row


def activity_context(database: Database, flags: dict) -> dict:
    """The backups table, restores and the missing-file banner of one database (polled while active)."""
    # Verifications of the last hour: a queued one keeps the fragment polling until its result shows.
    # Read first: a verification commits its result and its copies' verdicts together, so the copies
    # read after it never lag behind the summary shown (else the poll stops on a half-updated page).
    verifications = list(
        Verification.objects.filter(
            backup__database=database, created_at__gte=timezone.now() - timedelta(hours=1)
        ).order_by("-created_at", "-id")[:5]
    )
    rows = list(database.backups.prefetch_related("copies").order_by("-created_at", "-id")[: BACKUP_ROWS + 1])
    more = len(rows) > BACKUP_ROWS
    urls = row_urls()
    backups = [decorate(b, urls) for b in rows[:BACKUP_ROWS]]
    restores = list(
        Restore.objects.filter(target_database=database)
        .select_related("backup", "backup__database", "requested_by")
        .order_by("-created_at", "-id")[:10]
    )
    missing = [c for b in backups for c in b.copy_list if c.indicator["css"] == "missing"]
    active = (
        any(b.status in Backup.ACTIVE for b in backups)
        or any(r.status not in Restore.TERMINAL for r in restores)
        or any(v.status in Verification.ACTIVE for v in verifications)
        or Drill.objects.filter(backup__database=database, status__in=Drill.ACTIVE).exists()
    )
    return {
        "database": database,
        "backups": backups,
        "more_backups": more,
        "restores": restores,
        "missing_copies": missing,
        "verifications": verifications,
        "last_drill": Drill.objects.filter(backup__database=database, status=Drill.Status.PASSED)
        .order_by("-finished_at", "-id")
        .first(),
        "drills": list(Drill.objects.filter(backup__database=database).order_by("-created_at", "-id")[:5]),
        "active": active,
        "finished_statuses": sorted(str(s) for s in Backup.TERMINAL),
        **{k: flags[k] for k in ("role", "can_operate", "can_manage") if k in flags},
    }
