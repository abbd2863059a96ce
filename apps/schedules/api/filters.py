"""Query-string filters of /api/schedules/."""

from __future__ import annotations

import django_filters

from apps.common.filters import IdFilter
from apps.schedules.models import Schedule


class ScheduleFilter(django_filters.FilterSet):
    database_id = IdFilter(field_name="database_id", help_text="Only the schedules of this database.")

    class Meta:
        model = Schedule
        fields = ["database_id"]
