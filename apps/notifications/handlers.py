"""Notifications subscribe to the end of runs: every finished backup raises its events here.

Connected in NotificationsConfig.ready(), so a backup finished by the worker,
by `manage.py backup`, by the reaper or by a worker's shutdown notifies the
same way.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.backups.lifecycle import run_finished
from apps.backups.models import Backup
from apps.notifications import notify


@receiver(run_finished, sender=Backup, dispatch_uid="notifications.backup_finished")
def notify_backup_finished(sender: type[Backup], run: Backup, **kwargs: Any) -> None:
    """Queue the failed / partial / recovered notifications of a finished backup."""
    notify.backup_finished(run)
