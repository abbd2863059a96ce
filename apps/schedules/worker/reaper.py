"""Heartbeats of this worker's runs, and reaping the runs of workers that died."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.backups import lifecycle
from apps.schedules.worker.claims import MODELS


def refresh_heartbeats(worker_id: str, live: Mapping[str, Iterable[int]], now: datetime | None = None) -> int:
    """Touch heartbeat_at of this worker's running jobs ({kind: ids}); return how many rows."""
    now = now or timezone.now()
    return sum(lifecycle.heartbeat(MODELS[kind], pks, worker_id, now) for kind, pks in live.items())


def _stale(now: datetime, stale_seconds: int) -> Q:
    cutoff = now - timedelta(seconds=stale_seconds)
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)


def reap_stale(
    now: datetime,
    *,
    stale_seconds: int | None = None,
    live: Mapping[str, Iterable[int]] | None = None,
) -> dict[str, list[int]]:
    """Fail runs whose heartbeat is stale (their worker died) and remove their partial files.

    Runs in `live` ({kind: ids}, this worker's own jobs) are never reaped.
    Each interruption is conditional on the heartbeat the reaper read, so a
    worker that is alive after all keeps its run. Return {kind: reaped ids}.
    """
    stale = _stale(now, stale_seconds or settings.BM_HEARTBEAT_STALE_SECONDS)
    live = live or {}
    reaped: dict[str, list[int]] = {}
    for kind, model in MODELS.items():
        rows = model._default_manager.filter(stale, status="in_progress").exclude(
            pk__in=list(live.get(kind, ()))
        )
        reaped[kind] = [
            run.pk for run in rows if lifecycle.interrupt(run, now, heartbeat_at=run.heartbeat_at)
        ]
    return reaped
