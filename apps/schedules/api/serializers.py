from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.accounts import roles
from apps.common.serializers import StrictSerializerMixin, ValidatedModelSerializer
from apps.databases.models import Database
from apps.schedules import cron
from apps.schedules.models import Schedule


def _settled_rule(attrs: dict) -> dict:
    """Run Schedule.clean() on the rule (interval + cron + zone); return the values it settled on."""
    schedule = Schedule(
        interval_value=attrs.get("interval_value", Schedule.Interval.DAILY),
        cron_expression=attrs.get("cron_expression") or "",
        timezone=attrs.get("timezone", "UTC"),
    )
    try:
        schedule.clean()
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
    return {"interval_value": schedule.interval_value, "cron_expression": schedule.cron_expression}


class ScheduleSerializer(ValidatedModelSerializer):
    database_id = serializers.IntegerField()
    interval_value = serializers.ChoiceField(choices=Schedule.Interval.choices, default="daily")
    cron_expression = serializers.CharField(required=False, allow_blank=True, max_length=200)
    timezone = serializers.CharField(required=False, default="UTC", max_length=64)
    keep_last = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=100000)
    keep_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=36500)
    # GFS counts: their bounds are checked by Schedule.clean() (the one rule for every door).
    keep_hourly = serializers.IntegerField(required=False, allow_null=True)
    keep_daily = serializers.IntegerField(required=False, allow_null=True)
    keep_weekly = serializers.IntegerField(required=False, allow_null=True)
    keep_monthly = serializers.IntegerField(required=False, allow_null=True)
    keep_yearly = serializers.IntegerField(required=False, allow_null=True)
    # The rule in plain English ("At 02:30, only on Monday"), read from the saved expression.
    cron_description = serializers.SerializerMethodField()

    class Meta:
        model = Schedule
        fields = [
            "id",
            "database_id",
            "name",
            "interval_value",
            "cron_expression",
            "cron_description",
            "timezone",
            "enabled",
            "next_run_at",
            "last_run_at",
            "keep_last",
            "keep_days",
            "keep_hourly",
            "keep_daily",
            "keep_weekly",
            "keep_monthly",
            "keep_yearly",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "next_run_at", "last_run_at", "created_at", "updated_at"]

    def get_cron_description(self, obj: Schedule) -> str:
        return cron.describe(obj.cron_expression) if obj.cron_expression else ""

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

    def save(self, **kwargs):
        schedule = super().save(**kwargs)
        # The rule may have changed: the next run follows the new rule from now on.
        schedule.refresh_next_run()
        schedule.save(update_fields=["next_run_at"])
        return schedule


class PreviewSerializer(StrictSerializerMixin, serializers.Serializer):
    interval_value = serializers.ChoiceField(choices=Schedule.Interval.choices)
    cron_expression = serializers.CharField(required=False, allow_blank=True, max_length=200)
    timezone = serializers.CharField(required=False, default="UTC", max_length=64)
    count = serializers.IntegerField(required=False, default=5, min_value=1, max_value=100)

    def validate(self, attrs):
        attrs.update(_settled_rule(attrs))
        return attrs


class PreviewResultSerializer(serializers.Serializer):
    cron_expression = serializers.CharField()
    timezone = serializers.CharField()
    next_runs = serializers.ListField(child=serializers.DateTimeField())


class RetentionDecisionSerializer(serializers.Serializer):
    backup_id = serializers.IntegerField()
    reason = serializers.CharField()


class RetentionPreviewSerializer(serializers.Serializer):
    """What the next retention pass would delete and keep, each backup with its reason."""

    delete = RetentionDecisionSerializer(many=True)
    keep = RetentionDecisionSerializer(many=True)
