"""What follows a finished scheduled backup: its schedule's drill, then its retention.

Connected in BackupsConfig.ready() to the lifecycle's run_finished, so they
follow every scheduled backup whoever finished it (worker, reaper,
shutdown); the 15-minute retention sweep catches the rest.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.dispatch import receiver

from apps.backups import retention, services
from apps.backups.lifecycle import run_finished
from apps.backups.models import Backup
from apps.schedules.models import Schedule

log = logging.getLogger(__name__)


@receiver(run_finished, sender=Backup, dispatch_uid="backups.drill_after_backup")
def drill_after_backup(sender: type[Backup], run: Backup, **kwargs: Any) -> None:
    """Queue the schedule's drill after each of its completed backups."""
    if run.status != Backup.Status.COMPLETED or not run.schedule_id:
        return
    schedule = Schedule.objects.select_related("drill_target").filter(pk=run.schedule_id).first()
    if schedule is None or schedule.drill_target is None:
        return
    try:
        drill = services.request_drill(run, schedule.drill_target)
    except ValidationError as exc:
        log.warning("backup %s: the schedule's drill cannot run: %s", run.pk, exc.messages)
        return
    log.info("backup %s: drill %s queued into database %s", run.pk, drill.pk, schedule.drill_target_id)


@receiver(run_finished, sender=Backup, dispatch_uid="backups.retention_after_backup")
def apply_retention(sender: type[Backup], run: Backup, **kwargs: Any) -> None:
    """Apply the schedule's retention after one of its backups finished."""
    if not run.schedule_id:
        return
    schedule = Schedule.objects.filter(pk=run.schedule_id).first()
    if schedule is not None and retention.has_retention(schedule):
        deleted = retention.apply(schedule)
        if deleted:
            log.info("retention after backup %s deleted backups %s", run.pk, deleted)
