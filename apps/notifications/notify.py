"""Backup events to notification channels: which events a run raises, queued as log rows.

emit() only writes NotificationLog rows (one per subscribed channel), so a
backup never waits for a mail server or a webhook; `delivery.py` sends them
from the worker's maintenance thread. `handlers.py` calls
backup_finished() for every backup the lifecycle finishes, whoever ran it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.backups.models import Backup
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.schedules import cron
from apps.schedules.models import Schedule

log = logging.getLogger(__name__)

Event = NotificationChannel.Event
EVENTS = tuple(Event.values)


# --- building messages -------------------------------------------------------


def base_url() -> str:
    return settings.BM_BASE_URL.rstrip("/")


_TEXT = {
    Event.FAILED: "Backup of {database} ({group}) failed: {error}",
    Event.PARTIAL: "Backup of {database} ({group}) is partial: {error}",
    Event.RECOVERED: "Backups of {database} ({group}) are succeeding again",
    Event.STALE: "No completed backup of {database} ({group}) for {detail}",
    Event.ANOMALY: "Backup of {database} ({group}) looks odd: {error}",
    Event.DRILL_FAILED: "A restore drill of {database} ({group}) failed: {error}",
    NotificationLog.TEST_EVENT: "Test message from BackupManager for group {group}",
}


def build_payload(event: str, *, database=None, backup=None, group=None, detail: str = "") -> dict:
    """Return the JSON body: a Slack-compatible `text` plus structured fields."""
    if database is None and backup is not None:
        database = backup.database
    if group is None and database is not None:
        group = database.group
    error = (backup.error if backup is not None else "") or detail
    text = _TEXT[event].format(
        database=database.name if database else "-",
        group=group.name if group else "-",
        error=(error or "no error message")[:500],
        detail=detail,
    )
    return {
        "text": f"[BackupManager] {text}",
        "event": event,
        "database": database.name if database else None,
        "database_id": database.pk if database else None,
        "group": group.name if group else None,
        "group_id": group.pk if group else None,
        "backup_id": backup.pk if backup else None,
        "status": backup.status if backup else None,
        "error": error or None,
        "url": f"{base_url()}/api/backups/{backup.pk}" if backup else None,
        "occurred_at": timezone.now().isoformat(),
    }


def emit(event: str, *, database=None, backup=None, detail: str = "") -> int:
    """Queue the event for every enabled channel of the database's group that subscribes to it.

    Return how many deliveries were queued. Never raises: a notification
    problem must not fail a backup.
    """
    try:
        if database is None:
            database = backup.database
        channels = [
            c
            for c in NotificationChannel.objects.filter(group_id=database.group_id, enabled=True)
            if c.wants(event)
        ]
        if not channels:
            return 0
        payload = build_payload(event, database=database, backup=backup, detail=detail)
        now = timezone.now()
        NotificationLog.objects.bulk_create(
            NotificationLog(
                channel=c,
                event=event,
                database=database,
                backup=backup,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            )
            for c in channels
        )
        return len(channels)
    except Exception:
        log.exception("could not queue %s notification", event)
        return 0


def events_for_finished_backup(backup) -> list[str]:
    """Return the events a finished backup raises: failed, partial, anomaly, recovered after a failure."""
    if backup.status == Backup.Status.FAILED:
        return [Event.FAILED]
    if backup.status == Backup.Status.PARTIAL:
        return [Event.PARTIAL]
    if backup.status != Backup.Status.COMPLETED:
        return []
    events: list[str] = [Event.ANOMALY] if backup.anomaly and not backup.anomaly_accepted else []
    previous = (
        Backup.objects.filter(database_id=backup.database_id, status__in=Backup.TERMINAL)
        .exclude(pk=backup.pk)
        .filter(created_at__lte=backup.created_at)
        .order_by("-created_at", "-id")
        .values_list("status", flat=True)
        .first()
    )
    if previous in (Backup.Status.FAILED, Backup.Status.PARTIAL):
        return [*events, Event.RECOVERED]
    return events


def backup_finished(backup) -> int:
    """Queue the notifications for a backup that reached a terminal status; return how many."""
    try:
        return sum(
            emit(event, backup=backup, detail=backup.anomaly if event == Event.ANOMALY else "")
            for event in events_for_finished_backup(backup)
        )
    except Exception:
        log.exception("could not work out notifications for backup %s", backup.pk)
        return 0


# --- stale databases -----------------------------------------------------------


def schedule_interval(schedule, now: datetime) -> timedelta:
    """The gap between the schedule's next two runs."""
    first, second = cron.next_runs(schedule.effective_cron(), schedule.timezone, now, 2)
    return second - first


def check_stale(now: datetime | None = None) -> int:
    """Queue a stale event for each scheduled database without a completed backup within twice its interval.

    Sent once per stale spell and channel: not again until a newer completed
    backup exists. Only groups with a channel subscribed to `stale` are looked
    at. Return how many deliveries were queued.

    A database that never had a completed backup counts from its schedule's
    creation, so a schedule no worker ever claimed is noticed too. It needs no
    worker: the worker's maintenance runs it, and so does watchdog.py (after
    GET /health, or `manage.py watchdog`) while no worker is alive.
    """

    now = now or timezone.now()
    channels = [c for c in NotificationChannel.objects.filter(enabled=True) if c.wants(Event.STALE)]
    if not channels:
        return 0
    by_group: dict[int, list[NotificationChannel]] = {}
    for channel in channels:
        by_group.setdefault(channel.group_id, []).append(channel)
    schedules = Schedule.objects.filter(enabled=True, database__group_id__in=by_group).select_related(
        "database__group"
    )
    worst: dict[int, tuple[timedelta, Schedule]] = {}
    intervals: dict[tuple[str, str], timedelta | None] = {}  # many schedules share a rule
    for schedule in schedules:
        key = (schedule.interval_value + " " + schedule.cron_expression, schedule.timezone)
        if key not in intervals:
            try:
                intervals[key] = schedule_interval(schedule, now)
            except Exception:
                intervals[key] = None
        interval = intervals[key]
        if interval is None:
            continue
        threshold = 2 * interval
        # With several schedules the most frequent one sets the expectation.
        if schedule.database_id not in worst or threshold < worst[schedule.database_id][0]:
            worst[schedule.database_id] = (threshold, schedule)
    queued = 0
    for database_id, (threshold, schedule) in worst.items():
        last = (
            Backup.objects.filter(database_id=database_id, status=Backup.Status.COMPLETED)
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        since = last or schedule.created_at
        if now - since <= threshold:
            continue
        database = schedule.database
        already = set(
            NotificationLog.objects.filter(
                database_id=database_id, event=Event.STALE, created_at__gt=since
            ).values_list("channel_id", flat=True)
        )
        targets = [c for c in by_group[database.group_id] if c.pk not in already]
        if not targets:
            continue
        hours = (now - since).total_seconds() / 3600
        detail = f"{hours:.1f} hours (expected at least every {_human(threshold / 2)})"
        payload = build_payload(Event.STALE, database=database, detail=detail)
        NotificationLog.objects.bulk_create(
            NotificationLog(
                channel=c,
                event=Event.STALE,
                database=database,
                payload=payload,
                created_at=now,
                next_attempt_at=now,
            )
            for c in targets
        )
        queued += len(targets)
    return queued


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    return f"{seconds // 60} minute(s)"
