from __future__ import annotations

from rest_framework import serializers

from apps.accounts import roles
from apps.common.serializers import StrictSerializerMixin
from apps.databases.models import Database
from apps.schedules import cron
from apps.schedules.models import Schedule


def _cron_fields(attrs: dict) -> dict:
    """Validate interval + cron + timezone together; return the normalised values."""
    interval = attrs.get("interval_value", Schedule.Interval.DAILY)
    errors = {}
    expression = None
    try:
        if interval == Schedule.Interval.CUSTOM:
            if not (attrs.get("cron_expression") or "").strip():
                raise serializers.ValidationError(
                    {"cron_expression": "A custom schedule needs a cron expression."}
                )
            expression = cron.validate_cron(attrs["cron_expression"])
        else:
            expression = cron.PRESETS[interval]
    except cron.CronError as exc:
        errors["cron_expression"] = str(exc)
    try:
        cron.validate_timezone(attrs.get("timezone", "UTC"))
    except cron.CronError as exc:
        errors["timezone"] = str(exc)
    if errors:
        raise serializers.ValidationError(errors)
    return {"interval_value": interval, "cron_expression": expression}


class ScheduleSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    database_id = serializers.IntegerField()
    interval_value = serializers.ChoiceField(choices=Schedule.Interval.choices, default="daily")
    cron_expression = serializers.CharField(required=False, allow_blank=True, max_length=200)
    timezone = serializers.CharField(required=False, default="UTC", max_length=64)
    keep_last = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=100000)
    keep_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=36500)

    class Meta:
        model = Schedule
        fields = [
            "id",
            "database_id",
            "name",
            "interval_value",
            "cron_expression",
            "timezone",
            "enabled",
            "next_run_at",
            "last_run_at",
            "keep_last",
            "keep_days",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "next_run_at", "last_run_at", "created_at", "updated_at"]

    def validate_database_id(self, value: int) -> int:
        request = self.context["request"]
        database = Database.objects.visible_to(request.user).filter(pk=value).first()
        if database is None:
            raise serializers.ValidationError("No database with this id among your groups.")
        if not roles.has_role(request.user, database.group_id, roles.MANAGE):
            raise serializers.ValidationError("Only the group's owners can schedule this database.")
        return value

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate(self, attrs):
        current = {}
        if self.instance is not None:
            current = {
                "interval_value": self.instance.interval_value,
                "cron_expression": self.instance.cron_expression,
                "timezone": self.instance.timezone,
            }
        merged = {**current, **attrs}
        attrs.update(_cron_fields(merged))
        return attrs

    def save(self, **kwargs):
        schedule = super().save(**kwargs)
        # The rule may have changed: the next run follows the new rule from now on.
        schedule.next_run_at = schedule.compute_next_run() if schedule.enabled else None
        schedule.save(update_fields=["next_run_at"])
        return schedule


class PreviewSerializer(StrictSerializerMixin, serializers.Serializer):
    interval_value = serializers.ChoiceField(choices=Schedule.Interval.choices)
    cron_expression = serializers.CharField(required=False, allow_blank=True, max_length=200)
    timezone = serializers.CharField(required=False, default="UTC", max_length=64)
    count = serializers.IntegerField(required=False, default=5, min_value=1, max_value=100)

    def validate(self, attrs):
        attrs.update(_cron_fields(attrs))
        return attrs


class PreviewResultSerializer(serializers.Serializer):
    cron_expression = serializers.CharField()
    timezone = serializers.CharField()
    next_runs = serializers.ListField(child=serializers.DateTimeField())
