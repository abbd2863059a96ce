"""What the pages show of a schedule beyond its own fields, for the views of any app.

A helper of the HTML views (a door), so it may import higher apps: the retention
preview needs the backups that the next retention pass would delete.
"""

from __future__ import annotations

import logging

from apps.backups import retention
from apps.backups.models import Backup
from apps.schedules.models import Schedule

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
