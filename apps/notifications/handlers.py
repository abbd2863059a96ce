"""Notifications subscribe to the end of runs: every finished backup raises its events here.

Connected in NotificationsConfig.ready(), so a backup finished by the worker,
by `manage.py backup`, by the reaper or by a worker's shutdown notifies the
same way.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.backups.lifecycle import run_finished
from apps.backups.models import Backup, Drill
from apps.notifications import notify, watchdog
from apps.schedules.health import health_checked


@receiver(run_finished, sender=Backup, dispatch_uid="notifications.backup_finished")
def notify_backup_finished(sender: type[Backup], run: Backup, **kwargs: Any) -> None:
    """Queue the failed / partial / recovered notifications of a finished backup."""
    notify.backup_finished(run)


@receiver(run_finished, sender=Drill, dispatch_uid="notifications.drill_finished")
def notify_drill_finished(sender: type[Drill], run: Drill, **kwargs: Any) -> None:
    """A failed drill: the backup did not prove restorable."""
    if run.status == Drill.Status.FAILED:
        notify.emit(
            notify.Event.DRILL_FAILED,
            backup=run.backup,
            detail=f"drill #{run.pk} into database {run.target_database_id}: {run.error}",
        )


@receiver(health_checked, dispatch_uid="notifications.watchdog")
def check_silence_after_health(sender: object, **kwargs: Any) -> None:
    """Each GET /health may check for stale databases and a worker that is down (watchdog.py)."""
    watchdog.on_health_checked()
