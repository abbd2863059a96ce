"""Retention subscribes to the end of runs: a finished scheduled backup prunes its schedule.

Connected in BackupsConfig.ready(), so retention follows every scheduled
backup whoever finished it (worker, reaper, shutdown); the 15-minute sweep
catches the rest.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from apps.backups import retention
from apps.backups.lifecycle import run_finished
from apps.backups.models import Backup
from apps.schedules.models import Schedule

log = logging.getLogger(__name__)


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
