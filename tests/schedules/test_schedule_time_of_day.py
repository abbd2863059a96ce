"""Presets at a time of day: daily at HH:MM, weekly on a weekday at HH:MM, monthly on day N at HH:MM;
the rule read in plain English in the preview and the API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from apps.schedules import cron
from apps.schedules.models import Schedule
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def create(world, **fields):
    body = {"name": "timed", "timezone": "UTC", "enabled": "on", **fields}
    return world.client_for(world.owner).post(
        reverse("schedules:create") + f"?database={world.database.pk}", body
    )


@pytest.mark.parametrize(
    "interval, expr, parts",
    [
        ("daily", "30 2 * * *", {"minute": 30, "hour": 2, "day": None, "weekday": None}),
        ("weekly", "0 6 * * 1", {"minute": 0, "hour": 6, "day": None, "weekday": 1}),
        ("monthly", "15 3 28 * *", {"minute": 15, "hour": 3, "day": 28, "weekday": None}),
    ],
)
def test_a_timed_preset_keeps_an_expression_of_its_shape(interval, expr, parts):
    assert cron.preset_parts(interval, expr) == parts
    assert cron.expression_for(interval, expr) == expr


@pytest.mark.parametrize(
    "interval, expr",
    [
        ("daily", "*/5 * * * *"),
        ("daily", "0 0 * * 0"),
        ("weekly", "0 0 * * 1-5"),
        ("monthly", "0 0 31 * *"),
        ("daily", "61 2 * * *"),
        ("hourly", "30 2 * * *"),
    ],
)
def test_any_other_expression_with_a_preset_falls_back_to_the_presets_default(interval, expr):
    assert cron.preset_parts(interval, expr) is None
    assert cron.expression_for(interval, expr) == cron.PRESETS[interval]


def test_daily_at_half_past_two_in_rome_runs_then(world):
    with time_machine.travel(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), tick=False):
        response = create(world, interval_value="daily", run_time="02:30", timezone="Europe/Rome")
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = Schedule.objects.get(name="timed")
    assert (schedule.interval_value, schedule.cron_expression) == ("daily", "30 2 * * *")
    assert schedule.next_run_at == datetime(2026, 7, 2, 0, 30, tzinfo=UTC)  # 02:30 CEST


def test_weekly_on_monday_and_monthly_on_day_15(world):
    assert create(world, interval_value="weekly", run_time="06:00", run_weekday="1").status_code == 302
    assert Schedule.objects.get(name="timed").cron_expression == "0 6 * * 1"
    Schedule.objects.filter(name="timed").delete()
    assert create(world, interval_value="monthly", run_time="03:15", run_day="15").status_code == 302
    assert Schedule.objects.get(name="timed").cron_expression == "15 3 15 * *"


def test_a_day_past_28_or_a_bad_time_is_refused_and_nothing_is_saved(world):
    html = create(world, interval_value="monthly", run_time="03:15", run_day="31").content.decode()
    assert "Ensure this value is less than or equal to 28." in html
    html = create(world, interval_value="daily", run_time="25:61").content.decode()
    assert "Enter a valid time." in html
    assert not Schedule.objects.filter(name="timed").exists()


def test_the_time_fields_are_ignored_for_other_intervals(world):
    assert create(world, interval_value="hourly", run_time="02:30", run_day="9").status_code == 302
    assert Schedule.objects.get(name="timed").cron_expression == "0 * * * *"


def test_the_edit_page_shows_the_saved_time_and_day(world, make_schedule):
    schedule = make_schedule(
        world.database, name="weekly-report", interval_value="weekly", cron_expression="45 22 * * 5"
    )
    html = world.client_for(world.owner).get(reverse("schedules:update", args=[schedule.pk])).content.decode()
    assert 'name="run_time" value="22:45"' in html
    assert '<option value="5" selected>Friday</option>' in html
    assert "At 22:45, only on Friday" in html  # the preview's reading


def test_the_live_preview_reads_the_rule_and_lists_runs_at_that_time(world):
    client = world.client_for(world.owner)
    with time_machine.travel(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), tick=False):
        html = client.get(
            reverse("schedules:preview"),
            {"interval_value": "weekly", "run_time": "06:00", "run_weekday": "1", "timezone": "UTC"},
        ).content.decode()
    assert "At 06:00, only on Monday" in html
    assert "Mon 2026-07-06 06:00" in html and html.count("data-preview-run") == 5
    custom = client.get(
        reverse("schedules:preview"), {"interval_value": "custom", "cron_expression": "*/15 * * * *"}
    ).content.decode()
    assert "Every 15 minutes" in custom
    bad = client.get(reverse("schedules:preview"), {"interval_value": "daily", "run_time": "later"})
    assert "is not a time of day" in bad.content.decode()


def test_the_api_keeps_a_presets_time_and_reads_the_rule(api_client, make_database):
    database = make_database()
    response = api_client.post(
        "/api/schedules/",
        {"database_id": database.id, "name": "n", "interval_value": "daily", "cron_expression": "30 2 * * *"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["cron_expression"] == "30 2 * * *" and body["cron_description"] == "At 02:30"
    listed = api_client.get(f"/api/schedules/{body['id']}").json()
    assert listed["cron_description"] == "At 02:30"
