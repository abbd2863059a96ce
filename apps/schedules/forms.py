"""The schedule form: a preset or a custom cron expression, a timezone, retention."""

from __future__ import annotations

from django import forms

from apps.schedules import cron
from apps.schedules.models import GFS_FIELDS, Schedule

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


class ScheduleForm(forms.ModelForm):
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
            "keep_weekly": "ISO weeks, Monday to Sunday.",
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

    def save(self, commit=True):
        schedule = super().save(commit=False)
        schedule.refresh_next_run()
        if commit:
            schedule.save()
        return schedule
