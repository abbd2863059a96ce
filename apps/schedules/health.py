"""GET /health for load balancers and monitors: the metadata database and the worker's heartbeat.

Each request also sends `health_checked`: apps.notifications.watchdog listens and, at most once a
minute over all processes, checks for silence (stale databases, a worker that is down) from the
web process, so a dead worker is noticed by whatever monitors /health.
"""

from __future__ import annotations

import logging

from django.db import connection
from django.dispatch import Signal
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from apps.schedules.worker_status import down_since, scheduler_health

log = logging.getLogger(__name__)

# Sent after each GET /health has been answered (the watchdog subscribes).
health_checked = Signal()


def scheduler_status() -> dict:
    """Describe the worker's heartbeat (age, stale when no worker beat lately, and worker_down)."""
    try:
        status = scheduler_health()
        since = down_since()
    except Exception:  # the metadata database is down: health() reports that already
        return {"status": "unknown", "detail": "the worker heartbeat could not be read", "worker_down": False}
    status["worker_down"] = since is not None
    if since is not None:
        status["detail"] = f"worker down: no worker has reported since {since.isoformat()}"
    return status


@require_GET
def health(request):
    """200 when the metadata database answers; the worker's state is reported alongside."""
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        database = "ok"
    except Exception:
        database = "unreachable"
    scheduler = scheduler_status()
    ok = database == "ok" and scheduler.get("status") != "stale" and not scheduler.get("worker_down")
    response = JsonResponse(
        {"status": "ok" if ok else "failing", "database": database, "scheduler": scheduler},
        status=200 if ok else 503,
    )
    if database == "ok":
        try:
            health_checked.send(sender=None)
        except Exception:
            log.exception("a health_checked receiver failed")
    return response
