"""Encryption keys in the API: the secret key appears once, in the response that generated it."""

from __future__ import annotations

from rest_framework import serializers

from apps.common.serializers import StrictSerializerMixin
from apps.keys.models import GroupKey


class GroupKeySerializer(serializers.ModelSerializer):
    has_identity = serializers.BooleanField(read_only=True)

    class Meta:
        model = GroupKey
        fields = ["id", "name", "recipient", "has_identity", "created_at"]
        read_only_fields = fields


class GroupKeyCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """POST body: {name} generates a pair; {name, keep_identity: true} also keeps it; {name, recipient} imports."""

    name = serializers.CharField(max_length=200, trim_whitespace=True)
    recipient = serializers.CharField(
        required=False, max_length=200, help_text="Import this public key (age1…) instead of generating."
    )
    keep_identity = serializers.BooleanField(
        required=False, default=False, help_text="Keep the generated secret key, encrypted, for restores."
    )


class CreatedKeySerializer(GroupKeySerializer):
    identity = serializers.SerializerMethodField(
        help_text="The generated secret key (AGE-SECRET-KEY-1…), in this response only; "
        "null for an imported recipient."
    )

    class Meta(GroupKeySerializer.Meta):
        fields = ["id", "name", "recipient", "identity", "has_identity", "created_at"]
        read_only_fields = fields

    def get_identity(self, obj) -> str | None:
        # From the service's return value, never from the stored (kept) field.
        return self.context.get("identity") or None
