"""What the pages show of a schedule beyond its own fields, for the views of any app.

A helper of the HTML views (a door), so it may import higher apps: the retention
preview needs the backups that the next retention pass would delete.
"""

from __future__ import annotations

import logging

from django.db.models import OuterRef, QuerySet, Subquery

from apps.backups import retention
from apps.backups.models import Backup
from apps.schedules import cron
from apps.schedules.models import Schedule, ScheduleRun

log = logging.getLogger(__name__)


def retention_preview(schedule: Schedule) -> dict:
    """What the next retention pass would delete for this schedule, for the pages.

    {"active": the schedule sets keep_last/keep_days, "delete": [{backup_id, reason, created_at,
    status}], "error": text when the preview could not be computed}. A failing preview must not
    take the database page down with it, so it is logged and shown as unavailable.
    """
    active = retention.has_retention(schedule)
    if not active:
        return {"active": False, "delete": [], "error": ""}
    try:
        decisions = retention.preview(schedule)["delete"]
    except Exception:
        log.exception("retention preview of schedule %s failed", schedule.pk)
        return {"active": True, "delete": [], "error": "The retention preview is not available right now."}
    found = Backup.objects.in_bulk([d["backup_id"] for d in decisions])
    rows = []
    for d in decisions:
        backup = found.get(d["backup_id"])
        rows.append(
            {
                "backup_id": d["backup_id"],
                "reason": d["reason"],
                "created_at": backup.created_at if backup else None,
                "status": backup.get_status_display() if backup else "",
            }
        )
    return {"active": True, "delete": rows, "error": ""}


def with_last_result(schedules: QuerySet) -> QuerySet:
    """Annotate each schedule with its newest backup: last_backup_id, last_backup_status, last_backup_at.

    Read through the schedule's runs, newest slot first: the (schedule, slot_at) unique index
    answers each row with one index probe, however many backups the schedule made.
    """
    runs = ScheduleRun.objects.filter(schedule=OuterRef("pk"), backup__isnull=False).order_by("-slot_at")
    return schedules.annotate(
        last_backup_id=Subquery(runs.values("backup_id")[:1]),
        last_backup_status=Subquery(runs.values("backup__status")[:1]),
        last_backup_at=Subquery(runs.values("backup__created_at")[:1]),
    )


def describe_all(schedules) -> list:
    """The schedules as a list, each with `reading`: its cron rule in plain English."""
    schedules = list(schedules)
    for schedule in schedules:
        schedule.reading = cron.describe(schedule.cron_expression) if schedule.cron_expression else ""
    return schedules
