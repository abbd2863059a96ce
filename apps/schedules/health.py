"""GET /health for load balancers and monitors: the metadata database and the worker's heartbeat."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from apps.schedules.worker_status import scheduler_health


def scheduler_status() -> dict:
    """Describe the worker's heartbeat (age, and stale when no worker beat lately)."""
    try:
        return scheduler_health()
    except Exception:  # the metadata database is down: health() reports that already
        return {"status": "unknown", "detail": "the worker heartbeat could not be read"}


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
    ok = database == "ok" and scheduler.get("status") != "stale"
    return JsonResponse(
        {"status": "ok" if ok else "failing", "database": database, "scheduler": scheduler},
        status=200 if ok else 503,
    )
