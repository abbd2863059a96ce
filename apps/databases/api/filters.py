"""Query-string filters of /api/databases/."""

from __future__ import annotations

import django_filters

from apps.common.filters import IdFilter
from apps.databases.models import Database


class DatabaseFilter(django_filters.FilterSet):
    group_id = IdFilter(field_name="group_id", help_text="Only the databases of this group.")

    class Meta:
        model = Database
        fields = ["group_id"]
