"""Notification channels in the API: secrets are write-only."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.common.serializers import StrictSerializerMixin
from apps.notifications.models import NotificationChannel, NotificationLog, clean_secret, clean_target


class NotificationChannelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    group_id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=NotificationChannel.Kind.choices)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=NotificationChannel.Event.choices), allow_empty=False
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=1024,
        trim_whitespace=False,
        help_text='HMAC-SHA256 key for webhook signatures; never returned. Send "" to remove it.',
    )
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = NotificationChannel
        fields = [
            "id",
            "group_id",
            "kind",
            "target",
            "events",
            "enabled",
            "secret",
            "has_secret",
            "created_at",
        ]
        read_only_fields = ["id", "group_id", "has_secret", "created_at"]

    def validate_events(self, value: list[str]) -> list[str]:
        # Keep the canonical order and drop repeats.
        return [event for event in NotificationChannel.Event.values if event in value]

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        target = attrs.get("target", getattr(self.instance, "target", ""))
        try:
            target = clean_target(kind, target)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"target": exc.messages}) from None
        if "target" in attrs:
            attrs["target"] = target
        try:
            clean_secret(kind, attrs.get("secret") or "")
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"secret": exc.messages}) from None
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("reveal_targets", True):
            data["target"] = instance.public_target()
        return data


class ChannelTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    delivery_id = serializers.IntegerField()


class NotificationLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = NotificationLog
        fields = [
            "id",
            "channel_id",
            "event",
            "database_id",
            "backup_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "response_code",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields
