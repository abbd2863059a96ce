"""The schedule form: a preset or a custom cron expression, a timezone, retention."""

from __future__ import annotations

from django import forms

from apps.schedules import cron
from apps.schedules.models import Schedule

COMMON_ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Rome",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
]


def timezone_choices() -> list[tuple[str, str]]:
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
        ]
        labels = {
            "interval_value": "Runs",
            "cron_expression": "Cron expression",
            "keep_last": "Keep the last N backups",
            "keep_days": "Keep backups for N days",
            "enabled": "Enabled",
        }
        help_texts = {
            "cron_expression": "Five fields: minute hour day-of-month month day-of-week, e.g. 30 2 * * 1-5.",
            "keep_last": "Empty: no limit by count.",
            "keep_days": "Empty: no limit by age. With both set, a backup is kept if either rule keeps it.",
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
        for name in ("keep_last", "keep_days"):
            self.fields[name].min_value = 1
            self.fields[name].widget.attrs["min"] = 1
        self.fields["name"].widget.attrs["placeholder"] = "e.g. nightly"

    def clean(self):
        data = super().clean()
        interval = data.get("interval_value")
        if not interval:
            return data
        try:
            expr = cron.expression_for(interval, data.get("cron_expression"))
            data["cron_expression"] = cron.validate_cron(expr)
        except cron.CronError as exc:
            self.add_error("cron_expression", _sentence(str(exc)))
        for name in ("keep_last", "keep_days"):
            if data.get(name) == 0:
                self.add_error(name, "Use at least 1, or leave it empty for no limit.")
        return data

    def save(self, commit=True):
        schedule = super().save(commit=False)
        schedule.next_run_at = schedule.compute_next_run() if schedule.enabled else None
        if commit:
            schedule.save()
        return schedule


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
