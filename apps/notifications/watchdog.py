"""Silence, noticed without a worker: stale databases and a worker that is down.

The worker's maintenance thread runs notify.check_stale() every minute, but a worker
that is down (crashed, never started, its host gone) cannot report its own absence.
So the web process checks too: every GET /health sends `health_checked`,
handlers.py calls on_health_checked(), which runs run_if_due() in a background thread (the answer never
waits). WatchdogMark.claim() makes that once a minute over all web processes
however often monitors ask. `manage.py watchdog` runs the same checks from cron.

When no worker heartbeat is fresh, the checks also:
- queue a "worker down" message (on the `stale` subscription: it is the silence of
  every scheduled database of the group) once per down spell and channel;
- send the due notifications themselves, since the worker that normally sends them
  is not there (delivery's claims keep a row from being sent twice).
While a worker is alive it runs the stale check and sends; the web process then
only looks (a worker that goes away is noticed within a minute or two).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.db import connection, connections
from django.utils import timezone

from apps.notifications import delivery, notify
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.schedules import worker_status
from apps.schedules.models import Schedule, WatchdogMark, WorkerHeartbeat

log = logging.getLogger(__name__)

Event = NotificationChannel.Event
EVERY = timedelta(seconds=60)
MARK = "silence"
# Deliveries sent per watchdog run while the worker is down.
DELIVER_LIMIT = 50


def check_worker_down(now: datetime | None = None) -> int:
    """Queue "worker down" for each group with an enabled schedule, once per down spell; return how many.

    Goes to the group's channels subscribed to `stale`. A channel that already got it after the
    last sign of life is not told again; once a worker beats again and later goes away, it is.
    """
    now = now or timezone.now()
    since = worker_status.down_since(now)
    if since is None:
        return 0
    groups = set(Schedule.objects.filter(enabled=True).values_list("database__group_id", flat=True))
    channels = [
        c
        for c in NotificationChannel.objects.filter(enabled=True, group_id__in=groups).select_related("group")
        if c.wants(Event.STALE)
    ]
    already = set(
        NotificationLog.objects.filter(
            channel__in=channels, event=Event.STALE, database__isnull=True, created_at__gt=since
        ).values_list("channel_id", flat=True)
    )
    targets = [c for c in channels if c.pk not in already]
    if not targets:
        return 0
    seen = WorkerHeartbeat.objects.exists()
    hours = (now - since).total_seconds() / 3600
    what = f"since {since:%Y-%m-%d %H:%M} UTC" if seen else "ever (no worker has started)"
    rows = []
    for channel in targets:
        payload = notify.build_payload(Event.STALE, group=channel.group)
        payload.update(
            text=(
                f"[BackupManager] Worker down: no worker has reported {what}, {hours:.1f} hours; "
                f"scheduled backups of {channel.group.name} are not running"
            ),
            reason="worker_down",
            error=f"no worker heartbeat {what}",
        )
        rows.append(
            NotificationLog(
                channel=channel,
                event=Event.STALE,
                payload=payload,
                created_at=now,
                next_attempt_at=now,
            )
        )
    NotificationLog.objects.bulk_create(rows)
    log.warning("worker down since %s: %d notification(s) queued", since.isoformat(), len(rows))
    return len(rows)


def run(now: datetime | None = None) -> dict:
    """The silence checks (and, while no worker is alive, the deliveries); return what each did."""
    now = now or timezone.now()
    worker_down = worker_status.down_since(now) is not None
    result = {"worker_down": worker_down, "stale": 0, "worker_down_queued": 0, "delivered": 0}
    if not worker_down:
        return result  # the worker checks for stale databases and sends
    result["stale"] = notify.check_stale(now)
    result["worker_down_queued"] = check_worker_down(now)
    result["delivered"] = delivery.deliver_due(limit=DELIVER_LIMIT)
    return result


def run_if_due(now: datetime | None = None) -> dict | None:
    """run() if no process ran it in the last minute (WatchdogMark); None when it was not due."""
    now = now or timezone.now()
    if not WatchdogMark.claim(MARK, EVERY, now):
        return None
    return run(now)


_running = threading.Lock()


def _run_in_thread() -> None:
    try:
        run_if_due()
    except Exception:
        log.exception("the silence check failed")
    finally:
        connections.close_all()
        _running.release()


def start_in_background() -> threading.Thread | None:
    """Start run_if_due() in a daemon thread unless one of this process is still running."""
    if not _running.acquire(blocking=False):
        return None
    thread = threading.Thread(target=_run_in_thread, name="bm-watchdog", daemon=True)
    try:
        thread.start()
    except Exception:
        _running.release()
        raise
    return thread


def on_health_checked() -> None:
    """Check for silence in the background after a GET /health (handlers.py subscribes it).

    Not from inside a transaction (a test's, or ATOMIC_REQUESTS): a thread with its own
    connection could not see what it has not committed yet.
    """
    if connection.in_atomic_block:
        return
    start_in_background()
