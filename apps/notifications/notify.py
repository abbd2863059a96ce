"""Backup events to notification channels: queued as log rows, delivered off the backup's path.

emit() only writes NotificationLog rows (one per subscribed channel), so a
backup never waits for a mail server or a webhook. The worker's maintenance
thread calls deliver_due(), which claims due rows with a conditional UPDATE
(so two workers never send the same row), sends each with a short timeout,
and on failure schedules a retry with back-off; after MAX_ATTEMPTS the row
ends failed. Every outcome stays in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from concurrent.futures import Executor
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import close_old_connections, connection, connections
from django.utils import timezone

from apps.notifications.models import NotificationChannel, NotificationLog

log = logging.getLogger(__name__)

Event = NotificationChannel.Event
EVENTS = tuple(Event.values)

# Seconds to wait before attempt 2, 3, 4; the row fails after the last one.
BACKOFF_SECONDS = (10, 60, 300)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
# A webhook or SMTP server gets this long to answer.
TIMEOUT_SECONDS = 5
# A row left "sending" by a worker that died is retried after this long.
RECLAIM_AFTER = timedelta(minutes=5)
SIGNATURE_HEADER = "X-BackupManager-Signature"
EVENT_HEADER = "X-BackupManager-Event"


# --- building messages -------------------------------------------------------


def base_url() -> str:
    return settings.BM_BASE_URL.rstrip("/")


_TEXT = {
    Event.FAILED: "Backup of {database} ({group}) failed: {error}",
    Event.PARTIAL: "Backup of {database} ({group}) is partial: {error}",
    Event.RECOVERED: "Backups of {database} ({group}) are succeeding again",
    Event.STALE: "No completed backup of {database} ({group}) for {detail}",
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
    """Return the events a finished backup raises: failed, partial, or recovered after a failure."""
    from apps.backups.models import Backup

    if backup.status == Backup.Status.FAILED:
        return [Event.FAILED]
    if backup.status == Backup.Status.PARTIAL:
        return [Event.PARTIAL]
    if backup.status != Backup.Status.COMPLETED:
        return []
    previous = (
        Backup.objects.filter(database_id=backup.database_id, status__in=Backup.TERMINAL)
        .exclude(pk=backup.pk)
        .filter(created_at__lte=backup.created_at)
        .order_by("-created_at", "-id")
        .values_list("status", flat=True)
        .first()
    )
    if previous in (Backup.Status.FAILED, Backup.Status.PARTIAL):
        return [Event.RECOVERED]
    return []


def backup_finished(backup) -> int:
    """Queue the notifications for a backup that reached a terminal status; return how many."""
    try:
        return sum(emit(event, backup=backup) for event in events_for_finished_backup(backup))
    except Exception:
        log.exception("could not work out notifications for backup %s", backup.pk)
        return 0


# --- stale databases -----------------------------------------------------------


def schedule_interval(schedule, now: datetime) -> timedelta:
    """The gap between the schedule's next two runs."""
    from apps.schedules import cron

    first, second = cron.next_runs(schedule.effective_cron(), schedule.timezone, now, 2)
    return second - first


def check_stale(now: datetime | None = None) -> int:
    """Queue a stale event for each scheduled database without a completed backup within twice its interval.

    Sent once per stale spell and channel: not again until a newer completed
    backup exists. Only groups with a channel subscribed to `stale` are looked
    at. Return how many deliveries were queued.
    """
    from apps.backups.models import Backup
    from apps.schedules.models import Schedule

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
    worst: dict[int, tuple[timedelta, object]] = {}
    intervals: dict[tuple[str, str], timedelta | None] = {}  # many schedules share a rule
    for schedule in schedules:
        key = (schedule.interval_value + " " + schedule.cron_expression, schedule.timezone)
        if key not in intervals:
            try:
                intervals[key] = schedule_interval(schedule, now)
            except Exception:
                intervals[key] = None
        if intervals[key] is None:
            continue
        threshold = 2 * intervals[key]
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


# --- sending -------------------------------------------------------------------


class DeliveryError(Exception):
    """A channel did not accept a message; the text says why (no secrets)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def sign(secret: str, body: bytes) -> str:
    """Return the signature header value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(channel: NotificationChannel, payload: dict, timeout: float = TIMEOUT_SECONDS) -> int:
    """POST the payload as JSON; return the HTTP status, or raise DeliveryError."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "BackupManager",
        EVENT_HEADER: str(payload.get("event", "")),
    }
    if channel.secret:
        headers[SIGNATURE_HEADER] = sign(channel.secret, body)
    request = urllib.request.Request(channel.target, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https validated)
            return response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"the webhook answered HTTP {exc.code}", exc.code) from None
    except (TimeoutError, OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise DeliveryError(f"no answer from the webhook within {timeout:g} s") from None
        raise DeliveryError(f"the webhook could not be reached: {reason}") from None


def send_email(channel: NotificationChannel, payload: dict, timeout: float = TIMEOUT_SECONDS) -> None:
    """Send the payload's text by mail with Django's mail settings, or raise DeliveryError."""
    lines = [payload["text"], ""]
    for key in ("event", "database", "group", "backup_id", "status", "error", "url"):
        if payload.get(key) not in (None, ""):
            lines.append(f"{key}: {payload[key]}")
    try:
        send_mail(
            subject=payload["text"][:150],
            message="\n".join(lines),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[channel.target],
            connection=get_connection(timeout=timeout),
        )
    except Exception as exc:
        raise DeliveryError(f"the mail could not be sent: {exc}") from None


def send(channel: NotificationChannel, payload: dict, timeout: float = TIMEOUT_SECONDS) -> int | None:
    """Send one message to one channel; return the HTTP status for webhooks; raise DeliveryError."""
    if channel.kind == NotificationChannel.Kind.WEBHOOK:
        return send_webhook(channel, payload, timeout)
    send_email(channel, payload, timeout)
    return None


def deliver(entry: NotificationLog, now: datetime | None = None) -> bool:
    """Attempt one claimed log row; record success, a retry with back-off, or the final failure."""
    channel = entry.channel
    if channel is None:
        NotificationLog.objects.filter(pk=entry.pk).update(
            status=NotificationLog.Status.FAILED, last_error="the channel was deleted"
        )
        return False
    try:
        code = send(channel, entry.payload)
    except DeliveryError as exc:
        now = timezone.now()
        fields = {"last_error": str(exc)[:2000], "response_code": exc.code, "claimed_at": None}
        if entry.attempts >= MAX_ATTEMPTS:
            fields["status"] = NotificationLog.Status.FAILED
        else:
            fields["status"] = NotificationLog.Status.PENDING
            fields["next_attempt_at"] = now + timedelta(seconds=BACKOFF_SECONDS[entry.attempts - 1])
        NotificationLog.objects.filter(pk=entry.pk).update(**fields)
        log.warning(
            "notification %s to channel %s: attempt %s failed: %s", entry.pk, channel.pk, entry.attempts, exc
        )
        return False
    NotificationLog.objects.filter(pk=entry.pk).update(
        status=NotificationLog.Status.SENT,
        sent_at=timezone.now(),
        response_code=code,
        last_error="",
        claimed_at=None,
    )
    return True


def claim(entry_id: int, attempts: int, now: datetime) -> bool:
    """Return True if this process claimed the row (pending and unchanged since it was read)."""
    return (
        NotificationLog.objects.filter(
            pk=entry_id, status=NotificationLog.Status.PENDING, attempts=attempts
        ).update(status=NotificationLog.Status.SENDING, attempts=attempts + 1, claimed_at=now)
        == 1
    )


def claim_due(now: datetime | None = None, limit: int = 20) -> list[NotificationLog]:
    """Claim up to `limit` due rows (and re-queue rows a dead worker left sending)."""
    now = now or timezone.now()
    NotificationLog.objects.filter(
        status=NotificationLog.Status.SENDING, claimed_at__lt=now - RECLAIM_AFTER
    ).update(status=NotificationLog.Status.PENDING, claimed_at=None)
    due = list(
        NotificationLog.objects.filter(status=NotificationLog.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("id", "attempts")[:limit]
    )
    claimed_ids = [pk for pk, attempts in due if claim(pk, attempts, now)]
    return list(NotificationLog.objects.filter(pk__in=claimed_ids).select_related("channel"))


def _deliver_in_thread(entry: NotificationLog) -> bool:
    try:
        return deliver(entry)
    except Exception:
        log.exception("notification %s crashed", entry.pk)
        return False
    finally:
        connections.close_all()


def deliver_due(now: datetime | None = None, *, executor: Executor | None = None, limit: int = 20) -> int:
    """The worker's delivery step: claim due rows and send them; return how many were claimed.

    With an executor each message is sent on its own pool thread, so one slow
    channel does not hold up the others; without one they are sent inline.
    """
    if not connection.in_atomic_block:  # (never true in the worker; tests run inside one)
        close_old_connections()
    entries = claim_due(now, limit)
    for entry in entries:
        if executor is not None:
            executor.submit(_deliver_in_thread, entry)
        else:
            try:
                deliver(entry)
            except Exception:
                log.exception("notification %s crashed", entry.pk)
    return len(entries)


def send_test(channel: NotificationChannel) -> dict:
    """Send a test message now (no retry) and log it; return {"ok", "message", "delivery_id"}."""
    payload = build_payload(NotificationLog.TEST_EVENT, group=channel.group)
    entry = NotificationLog.objects.create(
        channel=channel,
        event=NotificationLog.TEST_EVENT,
        payload=payload,
        status=NotificationLog.Status.SENDING,
        attempts=1,
        claimed_at=timezone.now(),
    )
    try:
        code = send(channel, payload)
    except DeliveryError as exc:
        NotificationLog.objects.filter(pk=entry.pk).update(
            status=NotificationLog.Status.FAILED, last_error=str(exc), response_code=exc.code, claimed_at=None
        )
        return {"ok": False, "message": str(exc), "delivery_id": entry.pk}
    NotificationLog.objects.filter(pk=entry.pk).update(
        status=NotificationLog.Status.SENT, sent_at=timezone.now(), response_code=code, claimed_at=None
    )
    where = "the webhook" if channel.kind == NotificationChannel.Kind.WEBHOOK else channel.target
    suffix = f" (HTTP {code})" if code else ""
    return {"ok": True, "message": f"Test message sent to {where}{suffix}", "delivery_id": entry.pk}


def pending_count() -> int:
    return NotificationLog.objects.filter(status=NotificationLog.Status.PENDING).count()
