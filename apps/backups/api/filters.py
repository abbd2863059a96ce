"""Query-string filters of /api/backups/."""

from __future__ import annotations

import django_filters

from apps.backups.models import Backup, Drill
from apps.common.filters import IdFilter, choice_filter


class BackupFilter(django_filters.FilterSet):
    database_id = IdFilter(field_name="database_id", help_text="Only the backups of this database.")
    status = choice_filter(
        Backup.Status.choices, field_name="status", help_text="Only backups in this status."
    )

    class Meta:
        model = Backup
        fields = ["database_id", "status"]


class DrillFilter(django_filters.FilterSet):
    database_id = IdFilter(
        field_name="backup__database_id", help_text="Only drills of this database's backups."
    )

    class Meta:
        model = Drill
        fields = ["database_id"]
