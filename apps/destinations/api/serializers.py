from __future__ import annotations

import copy

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.common.serializers import StrictSerializerMixin
from apps.destinations import services
from apps.destinations.models import Destination
from apps.destinations.paths import validate_local_path

SECRET_HELP = "Write-only. Omit to keep the stored value; an empty string clears it."


def _secret(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text=SECRET_HELP,
        **kwargs,
    )


class DestinationSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A destination; the rules live in Destination.clean() (called through full_clean)."""

    database_id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=Destination.Kind.choices, default=Destination.Kind.LOCAL)
    port = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=65535)
    lock_mode = serializers.ChoiceField(
        choices=Destination.LockMode.choices, required=False, allow_null=True, allow_blank=True
    )
    lock_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=36500)
    secret_access_key = _secret(max_length=1024)
    password = _secret(max_length=1024)
    private_key = _secret(max_length=16384)
    has_secret = serializers.BooleanField(read_only=True)
    has_password = serializers.BooleanField(read_only=True)
    has_private_key = serializers.BooleanField(read_only=True)

    class Meta:
        model = Destination
        fields = [
            "id",
            "database_id",
            "name",
            "kind",
            "enabled",
            "path",
            "endpoint_url",
            "region",
            "bucket",
            "prefix",
            "access_key_id",
            "secret_access_key",
            "has_secret",
            "path_style",
            "lock_mode",
            "lock_days",
            "host",
            "port",
            "username",
            "password",
            "has_password",
            "private_key",
            "has_private_key",
            "host_key",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "database_id", "created_at", "updated_at"]

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        database = self.context["database"]
        clash = Destination.objects.filter(database=database, name=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("This database already has a destination with this name.")
        return value

    def validate(self, attrs):
        destination = copy.copy(self.instance) if self.instance is not None else Destination()
        if self.instance is not None:
            destination.__dict__.pop("_entered", None)
        destination.database = self.context["database"]
        secrets = {}
        for name, value in attrs.items():
            if name in ("secret_access_key", "password", "private_key"):
                secrets[name] = value
            else:
                setattr(destination, name, value)
        services.apply_secrets(destination, secrets)
        if destination.kind == Destination.Kind.LOCAL:
            check = validate_local_path(destination.path or "", destination.database.group_id)
            if not destination.path:
                raise serializers.ValidationError(
                    {"path": ["This field is required for a local destination."]}
                )
            if not check.valid or not check.writable:
                raise serializers.ValidationError({"path": [check.message]})
            destination.path = check.resolved
        try:
            destination.full_clean(exclude=["database"], validate_unique=False, validate_constraints=False)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_drf_errors(exc)) from None
        self._destination = destination
        return attrs

    def create(self, validated_data):
        return self._save()

    def update(self, instance, validated_data):
        return self._save()

    def _save(self) -> Destination:
        try:
            return services.save_destination(self._destination)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_drf_errors(exc)) from None


def _drf_errors(exc: DjangoValidationError) -> dict:
    errors = exc.message_dict
    if NON_FIELD_ERRORS in errors:
        errors["non_field_errors"] = errors.pop(NON_FIELD_ERRORS)
    return errors


class ValidatePathSerializer(StrictSerializerMixin, serializers.Serializer):
    path = serializers.CharField(allow_blank=True, trim_whitespace=False)


class PathCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    exists = serializers.BooleanField()
    writable = serializers.BooleanField()
    free_bytes = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    path = serializers.CharField(allow_null=True)


class ScanHostKeySerializer(StrictSerializerMixin, serializers.Serializer):
    host = serializers.CharField(max_length=255)
    port = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=65535, default=22)


class HostKeySerializer(serializers.Serializer):
    host_key = serializers.CharField()
    fingerprint = serializers.CharField()


class ScanFailedSerializer(serializers.Serializer):
    detail = serializers.CharField(
        help_text="Why the server's key could not be read, or which field is wrong."
    )


class DestinationTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
