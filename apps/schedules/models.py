"""When backups run, and how long they are kept."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from apps.common.querysets import GroupScopedQuerySet
from apps.databases.rules import drill_target_problem
from apps.schedules import cron

# The GFS retention fields, the period each counts and the most periods it may keep.
GFS_LIMITS: dict[str, tuple[str, int]] = {
    "keep_hourly": ("hours", 100_000),
    "keep_daily": ("days", 36_500),
    "keep_weekly": ("weeks", 5_200),
    "keep_monthly": ("months", 1_200),
    "keep_yearly": ("years", 100),
}
GFS_FIELDS = tuple(GFS_LIMITS)


class ScheduleQuerySet(GroupScopedQuerySet):
    group_path = "database__group"

    def due(self, now: datetime) -> ScheduleQuerySet:
        """Enabled schedules whose next run is at or before now."""
        return self.filter(enabled=True, next_run_at__lte=now)


class Schedule(models.Model):
    """A cron rule in a timezone for one database, with its retention."""

    class Interval(models.TextChoices):
        MINUTE = "minute", "Every minute"
        HOURLY = "hourly", "Hourly"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"
        CUSTOM = "custom", "Custom cron"

    database = models.ForeignKey("databases.Database", on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=100)
    interval_value = models.CharField(max_length=10, choices=Interval.choices, default=Interval.DAILY)
    # Derived from the interval for presets (see clean()); required for "custom" only.
    cron_expression = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    keep_last = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    keep_days = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    # GFS: the newest good backup of each of the last N hours/days/ISO weeks/months/years that have
    # one, in the schedule's zone (apps.backups.retention). Null = that kind is unused.
    # Their bounds are checked in clean() (GFS_LIMITS).
    keep_hourly = models.PositiveIntegerField(null=True, blank=True)
    keep_daily = models.PositiveIntegerField(null=True, blank=True)
    keep_weekly = models.PositiveIntegerField(null=True, blank=True)
    keep_monthly = models.PositiveIntegerField(null=True, blank=True)
    keep_yearly = models.PositiveIntegerField(null=True, blank=True)
    # A scratch database of the same group: each completed scheduled backup is restored into it
    # and checked (a drill); it is emptied before and after.
    drill_target = models.ForeignKey(
        "databases.Database", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["database_id", "name"]
        indexes = [
            # The worker's due query: enabled=True AND next_run_at <= now, soonest first.
            models.Index(fields=["enabled", "next_run_at"], name="schedule_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cron_expression} {self.timezone})"

    def clean(self):
        """Settle the cron rule: derive a preset's expression, validate a custom one and the zone.

        The one check for the page, the API and the admin, so no door can save a rule that
        never runs (a cron of "not a cron", a zone of "Mars/Base").
        """
        errors = {}
        if self.interval_value in self.Interval.values:
            try:
                expression = cron.expression_for(self.interval_value, self.cron_expression)
                self.cron_expression = cron.validate_cron(expression)
            except cron.CronError as exc:
                errors["cron_expression"] = [_sentence(str(exc))]
        try:
            cron.validate_timezone(self.timezone)
        except cron.CronError as exc:
            errors["timezone"] = [_sentence(str(exc))]
        for name, (unit, most) in GFS_LIMITS.items():
            value = getattr(self, name)
            if value is not None and not 1 <= value <= most:
                errors[name] = [f"Keep between 1 and {most} {unit}, or leave it empty."]
        drill_problem = (
            drill_target_problem(self.database, self.drill_target)
            if self.drill_target is not None and self.database_id
            else ""
        )
        if drill_problem:
            errors["drill_target"] = [drill_problem]
        if errors:
            raise ValidationError(errors)

    def has_retention(self) -> bool:
        """True if any retention rule is set (keep_last, keep_days or a GFS count)."""
        return any(getattr(self, name) for name in ("keep_last", "keep_days", *GFS_FIELDS))

    def refresh_next_run(self) -> None:
        """Set next_run_at for the current rule from now on (None while disabled)."""
        self.next_run_at = self.compute_next_run() if self.enabled else None

    def effective_cron(self) -> str:
        """The preset's expression, or the custom one."""
        return cron.expression_for(self.interval_value, self.cron_expression)

    def compute_next_run(self, after: datetime | None = None) -> datetime:
        """Return the next run strictly after `after` (default now), in UTC."""
        return cron.next_run_after(self.effective_cron(), self.timezone, after or timezone.now())


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class ScheduleRun(models.Model):
    """One claimed slot of a schedule: the unique pair is the guard against running a slot twice."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    slot_at = models.DateTimeField()
    backup = models.OneToOneField(
        "backups.Backup", null=True, blank=True, on_delete=models.SET_NULL, related_name="schedule_run"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-slot_at"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "slot_at"], name="schedule_run_slot_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id}@{self.slot_at:%Y-%m-%d %H:%M}"


class WatchdogMark(models.Model):
    """When a periodic check last ran, shared by every process (web and workers).

    claim() is a compare-and-set, so a check triggered from several places (each GET /health,
    a cron) runs once per period in all.
    """

    name = models.CharField(max_length=50, unique=True)
    ran_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} (ran {self.ran_at})"

    @classmethod
    def claim(cls, name: str, every: timedelta, now: datetime) -> bool:
        """Return True if this caller may run `name` now (it last ran `every` ago or never)."""
        mark, _ = cls.objects.get_or_create(name=name)
        due = models.Q(ran_at__isnull=True) | models.Q(ran_at__lte=now - every)
        return cls.objects.filter(due, pk=mark.pk).update(ran_at=now) == 1


class WorkerHeartbeat(models.Model):
    """The last sign of life of one `runscheduler` process, reported by GET /health."""

    worker_id = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    running_jobs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [
            # /health reads the most recent heartbeat; old rows are pruned by age.
            models.Index(fields=["-last_seen_at"], name="worker_hb_seen_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.worker_id} (seen {self.last_seen_at:%Y-%m-%d %H:%M:%S})"
