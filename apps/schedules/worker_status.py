"""The worker's own heartbeat: written by `runscheduler` each pass, read by GET /health."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.schedules.models import Schedule, WorkerHeartbeat

# Heartbeat rows of workers not seen for this long are deleted.
PRUNE_AFTER = timedelta(days=7)


def stale_after_seconds() -> int:
    """How old the newest worker heartbeat may be before /health reports the scheduler stale.

    A long-running worker beats every pass (about once a second); a cron tick
    (`runscheduler --once` each minute) beats once a minute, so the threshold
    leaves room for two missed ticks.
    """
    if settings.BM_SCHEDULER_STALE_SECONDS:
        return settings.BM_SCHEDULER_STALE_SECONDS
    return max(150, 2 * int(settings.BM_HEARTBEAT_STALE_SECONDS))


def make_worker_id() -> str:
    """Return an id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{os.urandom(3).hex()}"


def beat(
    worker_id: str, *, running_jobs: int = 0, now: datetime | None = None, stopped: bool = False
) -> None:
    """Record that this worker is alive (or, with stopped, that it stopped cleanly)."""
    now = now or timezone.now()
    fields = {"last_seen_at": now, "running_jobs": running_jobs}
    if stopped:
        fields["stopped_at"] = now
    updated = WorkerHeartbeat.objects.filter(worker_id=worker_id).update(**fields)
    if not updated:
        WorkerHeartbeat.objects.get_or_create(
            worker_id=worker_id,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "started_at": now,
                **fields,
            },
        )


def prune(now: datetime | None = None) -> int:
    """Delete heartbeat rows of workers gone for a week; return how many."""
    now = now or timezone.now()
    deleted, _ = WorkerHeartbeat.objects.filter(last_seen_at__lt=now - PRUNE_AFTER).delete()
    return deleted


def scheduler_health(now: datetime | None = None) -> dict:
    """Describe the scheduler for /health: ok, stale (no worker seen lately) or unknown (never seen).

    Returns {"status", "last_seen_at", "age_seconds", "stale_after_seconds",
    "workers" (how many were seen within the threshold), "running_jobs"}.
    """
    now = now or timezone.now()
    threshold = stale_after_seconds()
    newest = WorkerHeartbeat.objects.order_by("-last_seen_at").first()
    if newest is None:
        return {
            "status": "unknown",
            "detail": "no worker has reported yet",
            "last_seen_at": None,
            "age_seconds": None,
            "stale_after_seconds": threshold,
            "workers": 0,
            "running_jobs": 0,
        }
    age = max(0.0, (now - newest.last_seen_at).total_seconds())
    recent = WorkerHeartbeat.objects.filter(
        last_seen_at__gte=now - timedelta(seconds=threshold), stopped_at__isnull=True
    )
    live = list(recent.values_list("running_jobs", flat=True))
    return {
        "status": "ok" if age <= threshold else "stale",
        "last_seen_at": newest.last_seen_at.isoformat(),
        "age_seconds": round(age, 1),
        "stale_after_seconds": threshold,
        "workers": len(live),
        "running_jobs": sum(live),
    }


def down_since(now: datetime | None = None) -> datetime | None:
    """Since when no worker has been alive, if that is longer than the threshold; else None.

    The worker is down when the newest heartbeat is older than stale_after_seconds(), or, when no
    worker ever reported, when an enabled schedule has been waiting that long (a schedule that
    nothing will ever claim). A fresh install with nothing scheduled is not "down".
    """
    now = now or timezone.now()
    since = WorkerHeartbeat.objects.order_by("-last_seen_at").values_list("last_seen_at", flat=True).first()
    if since is None:
        since = (
            Schedule.objects.filter(enabled=True)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
    if since is None or (now - since).total_seconds() <= stale_after_seconds():
        return None
    return since
