"""The weekly digest: one message per group to each channel subscribed to `digest`.

It says what the last 7 days held: backups finished (completed, partial,
failed), the failures, the storage the group's saved copies use and how that
changed since the previous digest, and per database the newest backup a
passed restore drill proved restorable.

Queued once a week over all processes: `run_if_due()` claims the WatchdogMark
"digest" with a compare-and-set, so the worker's maintenance step (every
worker, every hour) and `manage.py digest` from cron queue it once in all.
The messages go through the ordinary queue (NotificationLog), retries and log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from apps.backups.models import Backup, BackupCopy, Drill
from apps.databases.models import Database
from apps.groups.models import Group
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.schedules.models import WatchdogMark

EVENT = NotificationChannel.Event.DIGEST
MARK = "digest"
WEEK = timedelta(days=7)
# A previous digest at least this old is "the week before" (the worker checks hourly, cron may drift).
PREVIOUS_AT_LEAST = timedelta(days=6)
MAX_FAILURES_LISTED = 10


def human_bytes(n: int) -> str:
    value = float(abs(n))
    sign = "-" if n < 0 else ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{sign}{value:.0f} {unit}" if unit == "B" else f"{sign}{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def storage_used(group: Group) -> int:
    """Bytes of every saved (completed) copy of the group's backups."""
    total = BackupCopy.objects.filter(
        backup__database__group=group, status=BackupCopy.Status.COMPLETED
    ).aggregate(total=Sum("size_bytes"))["total"]
    return int(total or 0)


def previous_storage(group: Group, now: datetime) -> tuple[int, datetime] | None:
    """The storage figure the group's previous digest reported (6+ days ago), with when; None if none."""
    entry = (
        NotificationLog.objects.filter(
            event=EVENT, payload__group_id=group.pk, created_at__lte=now - PREVIOUS_AT_LEAST
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if entry is None or not isinstance(entry.payload.get("storage_bytes"), int):
        return None
    return entry.payload["storage_bytes"], entry.created_at


def last_proven(database: Database) -> Drill | None:
    """The newest passed drill of this database's backups (its backup is the last proven restorable)."""
    return (
        Drill.objects.filter(backup__database=database, status=Drill.Status.PASSED)
        .select_related("backup")
        .order_by("-finished_at", "-id")
        .first()
    )


def build(group: Group, now: datetime | None = None) -> dict:
    """The digest's payload for one group: a readable `text` plus the figures as fields."""
    now = now or timezone.now()
    since = now - WEEK
    finished = Backup.objects.filter(database__group=group, finished_at__gt=since, finished_at__lte=now)
    counts = finished.aggregate(
        completed=Count("id", filter=Q(status=Backup.Status.COMPLETED)),
        partial=Count("id", filter=Q(status=Backup.Status.PARTIAL)),
        failed=Count("id", filter=Q(status=Backup.Status.FAILED)),
    )
    failures = list(
        finished.filter(status=Backup.Status.FAILED)
        .select_related("database")
        .order_by("-finished_at", "-id")[:MAX_FAILURES_LISTED]
    )
    used = storage_used(group)
    added = int(
        BackupCopy.objects.filter(backup__in=finished, status=BackupCopy.Status.COMPLETED).aggregate(
            total=Sum("size_bytes")
        )["total"]
        or 0
    )
    previous = previous_storage(group, now)
    proven = {db: last_proven(db) for db in Database.objects.filter(group=group).order_by("name", "id")}

    total = counts["completed"] + counts["partial"] + counts["failed"]
    lines = [
        f"[BackupManager] Weekly digest for group {group.name}, "
        f"{since:%Y-%m-%d} to {now:%Y-%m-%d}: {total} backup(s), {counts['completed']} completed, "
        f"{counts['partial']} partial, {counts['failed']} failed",
        "",
    ]
    if failures:
        lines.append("Failures:")
        for backup in failures:
            error = (backup.error or "no error message").splitlines()[0][:200]
            lines.append(f"- {backup.database.name}, {_when(backup.finished_at)}: {error}")
        if counts["failed"] > len(failures):
            lines.append(f"- and {counts['failed'] - len(failures)} more")
    else:
        lines.append("Failures: none")
    growth = None
    if previous is None:
        since_text = "no earlier digest to compare with"
    else:
        growth = used - previous[0]
        since_text = f"{'+' if growth >= 0 else ''}{human_bytes(growth)} since {previous[1]:%Y-%m-%d}"
    lines.append(f"Storage used: {human_bytes(used)} ({since_text}; {human_bytes(added)} saved this week)")
    lines.append("Last proven restorable (newest passed restore drill):")
    if not proven:
        lines.append("- no databases")
    for database, drill in proven.items():
        if drill is None:
            lines.append(f"- {database.name}: never proven by a drill")
        else:
            lines.append(
                f"- {database.name}: backup #{drill.backup_id} of {_when(drill.backup.created_at)}, "
                f"drill passed {_when(drill.finished_at)}"
            )
    return {
        "text": "\n".join(lines),
        "event": EVENT.value,
        "group": group.name,
        "group_id": group.pk,
        "period_start": since.isoformat(),
        "period_end": now.isoformat(),
        "backups": {"total": total, **counts},
        "failures": [
            {
                "backup_id": b.pk,
                "database": b.database.name,
                "finished_at": b.finished_at.isoformat() if b.finished_at else None,
                "error": (b.error or "")[:500],
            }
            for b in failures
        ],
        "storage_bytes": used,
        "storage_saved_this_week_bytes": added,
        "storage_growth_bytes": growth,
        "storage_previous_at": previous[1].isoformat() if previous else None,
        "last_proven_restorable": [
            {
                "database": db.name,
                "database_id": db.pk,
                "backup_id": drill.backup_id if drill else None,
                "backup_created_at": drill.backup.created_at.isoformat() if drill else None,
                "drilled_at": drill.finished_at.isoformat() if drill and drill.finished_at else None,
            }
            for db, drill in proven.items()
        ],
        "occurred_at": now.isoformat(),
    }


def queue_all(now: datetime | None = None) -> int:
    """Queue the digest for every group with an enabled channel subscribed to it; return rows queued."""
    now = now or timezone.now()
    channels = [
        c for c in NotificationChannel.objects.filter(enabled=True).select_related("group") if c.wants(EVENT)
    ]
    queued = 0
    payloads: dict[int, dict] = {}
    for channel in channels:
        if channel.group_id not in payloads:
            payloads[channel.group_id] = build(channel.group, now)
        NotificationLog.objects.create(
            channel=channel,
            event=EVENT,
            payload=payloads[channel.group_id],
            created_at=now,
            next_attempt_at=now,
        )
        queued += 1
    return queued


def run_if_due(now: datetime | None = None) -> int | None:
    """Queue the digests if no process did in the last 7 days (compare-and-set); None when not due."""
    now = now or timezone.now()
    with transaction.atomic():  # a digest that fails to queue leaves the mark as it was
        if not WatchdogMark.claim(MARK, WEEK, now):
            return None
        return queue_all(now)


def last_queued_at() -> datetime | None:
    mark = WatchdogMark.objects.filter(name=MARK).first()
    return mark.ran_at if mark else None
