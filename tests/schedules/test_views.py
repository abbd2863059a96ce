"""Schedule pages: list, create/edit with presets, custom cron, timezone, retention, live preview."""

import pytest
from django.urls import reverse

from apps.schedules.models import Schedule
from tests.ui.world import assert_access, world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_schedule_pages_answer_members_and_hide_from_outsiders(world):
    assert_access(
        world, reverse("schedules:update", args=[world.schedule.pk]), world.owner, forbidden=[world.operator]
    )
    assert_access(
        world, reverse("schedules:delete", args=[world.schedule.pk]), world.owner, forbidden=[world.viewer]
    )
    assert_access(
        world,
        reverse("schedules:create") + f"?database={world.database.pk}",
        world.owner,
        forbidden=[world.viewer],
    )


def test_the_schedule_list_shows_only_visible_schedules(world):
    assert "nightly" in world.client_for(world.viewer).get(reverse("schedules:list")).content.decode()
    assert "nightly" not in world.client_for(world.outsider).get(reverse("schedules:list")).content.decode()
    assert world.client_for(None).get(reverse("schedules:list")).status_code == 302


def test_an_every_minute_schedule_gets_its_cron_and_next_run(world):
    response = world.client_for(world.owner).post(
        reverse("schedules:create") + f"?database={world.database.pk}",
        {
            "name": "often",
            "interval_value": "minute",
            "cron_expression": "",
            "timezone": "Europe/Rome",
            "enabled": "on",
            "keep_last": "5",
        },
        follow=True,
    )
    s = Schedule.objects.get(name="often")
    assert s.cron_expression == "* * * * *" and s.timezone == "Europe/Rome" and s.keep_last == 5
    assert s.next_run_at is not None and s.database == world.database
    assert "Schedule “often” saved (every minute, next run" in response.content.decode()


def test_a_bad_custom_cron_is_explained_on_the_field(world):
    response = world.client_for(world.owner).post(
        reverse("schedules:create") + f"?database={world.database.pk}",
        {
            "name": "odd",
            "interval_value": "custom",
            "cron_expression": "61 * * *",
            "timezone": "UTC",
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert "A cron expression has exactly 5 fields" in response.content.decode()
    assert not Schedule.objects.filter(name="odd").exists()


def test_an_unknown_timezone_is_refused(world):
    response = world.client_for(world.owner).post(
        reverse("schedules:create") + f"?database={world.database.pk}",
        {"name": "tz", "interval_value": "daily", "timezone": "Mars/Olympus", "enabled": "on"},
    )
    assert "Select a valid choice" in response.content.decode()


def test_the_preview_lists_the_next_five_runs_in_the_zone(world):
    client = world.client_for(world.viewer)
    html = client.get(
        reverse("schedules:preview"),
        {"interval_value": "custom", "cron_expression": "30 2 * * *", "timezone": "Europe/Rome"},
    ).content.decode()
    assert html.count("data-preview-run") == 5 and "02:30" in html and "UTC)" in html
    bad = client.get(
        reverse("schedules:preview"),
        {"interval_value": "custom", "cron_expression": "nope", "timezone": "UTC"},
    ).content.decode()
    assert "data-preview-error" in bad and "5 fields" in bad


def test_pausing_clears_the_next_run_and_resuming_sets_it(world):
    url = reverse("schedules:toggle", args=[world.schedule.pk])
    assert world.client_for(world.operator).post(url).status_code == 403
    world.client_for(world.owner).post(url)
    world.schedule.refresh_from_db()
    assert not world.schedule.enabled and world.schedule.next_run_at is None
    response = world.client_for(world.owner).post(url, follow=True)
    world.schedule.refresh_from_db()
    assert world.schedule.enabled and world.schedule.next_run_at is not None
    assert "resumed; next run" in response.content.decode()


def test_creating_without_a_database_or_for_someone_elses_database_fails(world):
    assert world.client_for(world.owner).get(reverse("schedules:create")).status_code == 302
    assert (
        world.client_for(world.outsider)
        .get(reverse("schedules:create") + f"?database={world.database.pk}")
        .status_code
        == 404
    )
