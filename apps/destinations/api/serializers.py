from __future__ import annotations

from rest_framework import serializers

from apps.common.serializers import StrictSerializerMixin
from apps.destinations.models import Destination
from apps.destinations.paths import validate_local_path


class DestinationSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    database_id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=Destination.Kind.choices, default=Destination.Kind.LOCAL)

    class Meta:
        model = Destination
        fields = ["id", "database_id", "name", "kind", "path", "enabled", "created_at", "updated_at"]
        read_only_fields = ["id", "database_id", "created_at", "updated_at"]

    def validate_kind(self, value: str) -> str:
        if value != Destination.Kind.LOCAL:
            raise serializers.ValidationError("Only local destinations are supported so far.")
        return value

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

    def validate_path(self, value: str) -> str:
        check = validate_local_path(value)
        if not check.valid:
            raise serializers.ValidationError(check.message)
        if not check.writable:
            raise serializers.ValidationError(check.message)
        return check.resolved


class ValidatePathSerializer(StrictSerializerMixin, serializers.Serializer):
    path = serializers.CharField(allow_blank=True, trim_whitespace=False)


class PathCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    exists = serializers.BooleanField()
    writable = serializers.BooleanField()
    free_bytes = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    path = serializers.CharField(allow_null=True)
