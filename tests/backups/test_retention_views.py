"""The retention preview in the pages: the schedule rows of the database page and the schedule's
edit page say what the next retention pass would delete, and why (apps.backups.retention.preview)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.backups import retention
from apps.backups.models import Backup
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(world):
    """Five completed scheduled backups of `nightly`, one a day, newest first; the schedule keeps 2."""
    now = timezone.now()
    backups = [
        Backup.objects.create(
            database=world.database,
            schedule=world.schedule,
            trigger=Backup.Trigger.SCHEDULED,
            status=Backup.Status.COMPLETED,
            created_at=now - timedelta(days=day, hours=1),
            finished_at=now - timedelta(days=day, hours=1),
        )
        for day in range(5)
    ]
    world.schedule.keep_last = 2
    world.schedule.save()
    return backups


def test_the_database_page_says_what_the_next_pass_would_delete_and_why(world, history):
    expected = retention.preview(world.schedule)["delete"]
    assert len(expected) == 3  # the world's own, newest backup is the database's newest completed one
    html = (
        world.client_for(world.viewer)
        .get(reverse("databases:detail", args=[world.database.pk]))
        .content.decode()
    )
    row = re.search(rf'<tr id="schedule-{world.schedule.pk}"[^>]*>.*?</tr>', html, re.S).group(0)
    assert "The next retention pass would delete 3 backups" in row
    assert 'data-retention-preview="3"' in row
    for decision in expected:
        item = re.search(rf'<li data-retention-delete="{decision["backup_id"]}">.*?</li>', row, re.S).group(0)
        assert reverse("backups:detail", args=[decision["backup_id"]]) in item
        assert "beyond keep_last=2" in decision["reason"] and decision["reason"] in item
    kept = {b.pk for b in history} - {d["backup_id"] for d in expected}
    for pk in kept:
        assert f'data-retention-delete="{pk}"' not in row


def test_the_preview_says_nothing_is_deleted_when_all_backups_are_kept(world, history):
    world.schedule.keep_last = 10
    world.schedule.save()
    html = (
        world.client_for(world.viewer)
        .get(reverse("databases:detail", args=[world.database.pk]))
        .content.decode()
    )
    assert "The next retention pass would delete nothing." in html
    assert "data-retention-delete" not in html


def test_a_schedule_without_retention_shows_no_preview(world, history):
    world.schedule.keep_last = None
    world.schedule.keep_days = None
    world.schedule.save()
    html = (
        world.client_for(world.viewer)
        .get(reverse("databases:detail", args=[world.database.pk]))
        .content.decode()
    )
    assert "data-retention-preview" not in html and "retention pass" not in html


def test_the_edit_page_shows_the_preview_of_the_saved_settings(world, history):
    html = (
        world.client_for(world.owner)
        .get(reverse("schedules:update", args=[world.schedule.pk]))
        .content.decode()
    )
    assert "Retention with the saved settings" in html
    assert "The next retention pass would delete 3 backups" in html
    assert '<details class="retention" data-retention-preview="3" open>' in html
    # A form sent back with errors still previews the saved schedule, not the typed values.
    response = world.client_for(world.owner).post(
        reverse("schedules:update", args=[world.schedule.pk]),
        {"name": "", "interval_value": "daily", "timezone": "UTC", "keep_last": "1"},
    )
    assert response.status_code == 200
    assert "The next retention pass would delete 3 backups" in response.content.decode()


def test_a_failing_preview_leaves_the_database_page_up(world, history, monkeypatch, caplog):
    def broken(schedule):
        raise RuntimeError("boom")

    monkeypatch.setattr(retention, "preview", broken)
    response = world.client_for(world.viewer).get(reverse("databases:detail", args=[world.database.pk]))
    assert response.status_code == 200
    assert "The retention preview is not available right now." in response.content.decode()
    assert "retention preview of schedule" in caplog.text
