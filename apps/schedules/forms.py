"""The schedule form: a preset or a custom cron expression, a timezone, retention."""

from __future__ import annotations

from datetime import datetime, time

from django import forms

from apps.schedules import cron
from apps.schedules.models import GFS_FIELDS, Schedule

# Cron counts weekdays from Sunday = 0; the form lists them from Monday.
WEEKDAYS = [
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
    (0, "Sunday"),
]

COMMON_ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Rome",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
]


def timezone_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Common zones first, then every IANA zone."""
    names = sorted(cron._zone_names() - {"UTC"})
    common = [z for z in COMMON_ZONES if z == "UTC" or z in names]
    return [("Common", [(z, z) for z in common]), ("All zones", [(z, z) for z in names])]


def timed_expression(interval: str, at: time | None, weekday: int | None, day: int | None) -> str:
    """The cron expression of a timed preset (daily/weekly/monthly) at a time of day; CronError if not."""
    at = at or time(0, 0)
    return cron.preset_expression(
        interval,
        hour=at.hour,
        minute=at.minute,
        weekday=0 if weekday is None else weekday,
        day=1 if day is None else day,
    )


def parse_time(raw) -> time | None:
    """HH:MM (or a time) → time; "" → None; CronError for anything else."""
    if isinstance(raw, time):
        return raw
    raw = (raw or "").strip()
    if not raw:
        return None
    for fmt in ("%H:%M", "%H:%M:%S"):
        try:
            return datetime.strptime(raw, fmt).time()
        except ValueError:
            continue
    raise cron.CronError(f"{raw!r} is not a time of day; use HH:MM, e.g. 02:30")


def parse_int(raw, what: str, low: int, high: int) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise cron.CronError(f"the {what} must be a number from {low} to {high}") from None
    if not low <= value <= high:
        raise cron.CronError(f"the {what} must be a number from {low} to {high}")
    return value


def rule_expression(interval, custom, at=None, weekday=None, day=None) -> str:
    """The expression the form would save for these raw values (the live preview's view of the form)."""
    if interval in cron.TIMED_PRESETS:
        return timed_expression(
            interval,
            parse_time(at),
            parse_int(weekday, "weekday", 0, 6),
            parse_int(day, "day of the month", 1, 28),
        )
    return cron.expression_for(interval, custom)


class ScheduleForm(forms.ModelForm):
    # A time of day for the daily, weekly and monthly presets (the custom cron says its own).
    run_time = forms.TimeField(
        label="At",
        required=False,
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}),
        help_text="Time of day in the schedule's time zone (24-hour, HH:MM).",
    )
    run_weekday = forms.TypedChoiceField(
        label="On", choices=WEEKDAYS, coerce=int, required=False, empty_value=None
    )
    run_day = forms.IntegerField(
        label="On day",
        min_value=1,
        max_value=28,
        required=False,
        help_text="Day of the month, 1 to 28 (so it runs every month).",
    )

    class Meta:
        model = Schedule
        fields = [
            "name",
            "interval_value",
            "cron_expression",
            "timezone",
            "enabled",
            "keep_last",
            "keep_days",
            "keep_hourly",
            "keep_daily",
            "keep_weekly",
            "keep_monthly",
            "keep_yearly",
        ]
        labels = {
            "interval_value": "Runs",
            "cron_expression": "Cron expression",
            "keep_last": "Keep the last N backups",
            "keep_days": "Keep backups for N days",
            "keep_hourly": "Hours",
            "keep_daily": "Days",
            "keep_weekly": "Weeks",
            "keep_monthly": "Months",
            "keep_yearly": "Years",
            "enabled": "Enabled",
        }
        help_texts = {
            "cron_expression": "Five fields: minute hour day-of-month month day-of-week, e.g. 30 2 * * 1-5.",
            "keep_last": "Empty: no limit by count.",
            "keep_days": "Empty: no limit by age. A backup is kept if any retention rule keeps it.",
            "keep_hourly": "e.g. 24: the newest good backup of each of the last 24 hours.",
            "keep_daily": "e.g. 7: one backup a day for the last 7 days.",
            "keep_weekly": "e.g. 4: one a week for the last 4 ISO weeks (Monday to Sunday).",
            "keep_monthly": "e.g. 12: one a month for the last 12 months.",
            "keep_yearly": "e.g. 3: one a year for the last 3 years.",
        }
        widgets = {
            "interval_value": forms.RadioSelect,
            "cron_expression": forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cron_expression"].required = False
        self.fields["timezone"] = forms.ChoiceField(
            choices=timezone_choices(),
            initial="UTC",
            help_text="Runs follow this zone's wall clock, also across DST changes.",
        )
        for name in ("keep_last", "keep_days", *GFS_FIELDS):
            self.fields[name].widget.attrs["min"] = 1
        self.fields["name"].widget.attrs["placeholder"] = "e.g. nightly"
        self.fields["run_day"].widget.attrs["max"] = 28
        parts = cron.preset_parts(self.instance.interval_value, self.instance.cron_expression)
        if self.instance.pk and parts:
            self.initial.setdefault("run_time", time(parts["hour"], parts["minute"]))
            self.initial.setdefault("run_weekday", parts["weekday"] if parts["weekday"] is not None else 0)
            self.initial.setdefault("run_day", parts["day"] or 1)
        else:
            self.initial.setdefault("run_time", time(0, 0))
            self.initial.setdefault("run_weekday", 0)
            self.initial.setdefault("run_day", 1)

    def clean(self):
        data = super().clean()
        interval = data.get("interval_value")
        if interval in cron.TIMED_PRESETS and not {"run_time", "run_weekday", "run_day"} & set(self.errors):
            try:
                data["cron_expression"] = timed_expression(
                    interval, data.get("run_time"), data.get("run_weekday"), data.get("run_day")
                )
            except cron.CronError as exc:
                self.add_error("run_time", str(exc)[:1].upper() + str(exc)[1:] + ".")
        return data

    def save(self, commit=True):
        schedule = super().save(commit=False)
        schedule.refresh_next_run()
        if commit:
            schedule.save()
        return schedule
