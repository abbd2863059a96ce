from __future__ import annotations

from rest_framework import serializers

from apps.audit.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor_name", read_only=True, help_text="The username ('' = the system)."
    )
    group_id = serializers.IntegerField(read_only=True, allow_null=True)
    detail = serializers.JSONField(read_only=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "group_id",
            "ip",
            "outcome",
            "detail",
        ]
        read_only_fields = fields
