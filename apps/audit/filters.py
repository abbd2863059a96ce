"""Filters of the audit log, shared by GET /api/audit/ and the audit page."""

from __future__ import annotations

import django_filters

from apps.audit.models import AuditEntry
from apps.common.filters import IdFilter, choice_filter


class AuditEntryFilter(django_filters.FilterSet):
    group_id = IdFilter(field_name="group_id", help_text="Only this group's entries.")
    outcome = choice_filter(AuditEntry.Outcome.choices, field_name="outcome", help_text="Only this outcome.")
    action = django_filters.CharFilter(
        field_name="action",
        lookup_expr="startswith",
        help_text="Actions starting so (e.g. backup. or login).",
    )
    actor = django_filters.CharFilter(
        field_name="actor_name", lookup_expr="iexact", help_text="This username."
    )
    object_type = django_filters.CharFilter(
        field_name="object_type", help_text="e.g. database, backup, user."
    )

    class Meta:
        model = AuditEntry
        fields = ["group_id", "outcome", "action", "actor", "object_type"]
