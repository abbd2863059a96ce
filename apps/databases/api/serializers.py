from __future__ import annotations

import copy

from rest_framework import serializers

from apps.accounts import roles
from apps.common.serializers import ValidatedModelSerializer
from apps.databases.models import Database
from apps.engines import ENGINE_CHOICES
from apps.groups.models import Group
from apps.keys.models import GroupKey


class DatabaseSerializer(ValidatedModelSerializer):
    group_id = serializers.IntegerField()
    engine = serializers.ChoiceField(choices=ENGINE_CHOICES)
    port = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=65535)
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Write-only. Omit to keep the stored password; an empty string clears it.",
    )
    has_password = serializers.BooleanField(read_only=True)
    options = serializers.DictField(required=False)
    encryption_key_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="A key of the database's group (GET /api/groups/{id}/keys/); null = backups not encrypted.",
    )

    class Meta:
        model = Database
        fields = [
            "id",
            "group_id",
            "name",
            "engine",
            "host",
            "port",
            "database_name",
            "username",
            "password",
            "has_password",
            "options",
            "compression",
            "timeout_seconds",
            "encryption_key_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "has_password", "created_at", "updated_at"]

    def validate_group_id(self, value: int) -> int:
        request = self.context["request"]
        if not Group.objects.visible_to(request.user).filter(pk=value).exists():
            raise serializers.ValidationError("No group with this id among your groups.")
        if not roles.has_role(request.user, value, roles.MANAGE):
            raise serializers.ValidationError("Only the group's owners can add or move databases.")
        return value

    def validate_encryption_key_id(self, value: int | None) -> int | None:
        if value is not None:
            groups = Group.objects.visible_to(self.context["request"].user)
            if not GroupKey.objects.filter(pk=value, group__in=groups).exists():
                raise serializers.ValidationError("No encryption key with this id among your groups.")
        return value

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate(self, attrs):
        # The model's rules (Database.clean: fields per engine, the key's group, a stored password
        # never sent to a new place; its constraints). A given password is entered on the copy the
        # model checks; an omitted one is the stored one.
        original = self.instance
        if original is not None and "password" in attrs:
            probe = copy.copy(original)
            probe.__dict__.pop("_entered", None)
            probe.enter_secret("password", attrs["password"])
            self.instance = probe
        try:
            return super().validate(attrs)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict) and "encryption_key" in exc.detail:
                exc.detail["encryption_key_id"] = exc.detail.pop("encryption_key")
            raise
        finally:
            self.instance = original


class ConnectionTestSerializer(DatabaseSerializer):
    """The body of POST /test-connection: a database that is not saved."""

    model_validation_exclude = ("name",)  # a name clash does not matter for a test

    name = serializers.CharField(required=False, allow_blank=True, default="connection test")

    def validate(self, attrs):
        # A name clash does not matter for a test.
        attrs = dict(attrs)
        name = attrs.pop("name", None)
        attrs = super().validate(attrs)
        attrs["name"] = name
        return attrs


class ConnectionResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    server_version = serializers.CharField(allow_null=True)
    duration_ms = serializers.IntegerField()
