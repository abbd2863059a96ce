"""The schedules list: each rule in words, the last result, and pause/resume, edit, run now by role."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.backups.models import Backup
from apps.schedules.models import Schedule, ScheduleRun
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def row_of(html: str, schedule: Schedule) -> str:
    match = re.search(rf'<tr id="schedule-{schedule.pk}".*?</tr>', html, re.S)
    assert match, f"no row for schedule {schedule.pk}"
    return match.group(0)


def scheduled_backup(schedule: Schedule, status: str, at: datetime) -> Backup:
    backup = Backup.objects.create(
        database=schedule.database, schedule=schedule, trigger="scheduled", status=status, created_at=at
    )
    ScheduleRun.objects.create(schedule=schedule, slot_at=at, backup=backup)
    return backup


def test_the_list_reads_each_rule_and_shows_the_latest_result(world):
    schedule = world.schedule  # daily, 0 0 * * *
    base = datetime(2026, 5, 1, tzinfo=UTC)
    scheduled_backup(schedule, "completed", base)
    failed = scheduled_backup(schedule, "failed", base + timedelta(days=1))
    Backup.objects.create(database=world.database, status="completed")  # manual: not the schedule's
    row = row_of(world.client_for(world.viewer).get(reverse("schedules:list")).content.decode(), schedule)
    assert "At 00:00" in row
    assert 'data-last-result="failed"' in row
    assert reverse("backups:detail", args=[failed.pk]) in row and "2026-05-02 00:00" in row


def test_a_schedule_that_never_ran_says_so(world):
    row = row_of(
        world.client_for(world.viewer).get(reverse("schedules:list")).content.decode(), world.schedule
    )
    assert 'data-last-result="none"' in row and "not run yet" in row


def test_actions_follow_the_role(world):
    url = reverse("schedules:list")
    toggle = reverse("schedules:toggle", args=[world.schedule.pk])
    edit = reverse("schedules:update", args=[world.schedule.pk])
    run = reverse("backups:run", args=[world.database.pk])
    viewer = row_of(world.client_for(world.viewer).get(url).content.decode(), world.schedule)
    assert toggle not in viewer and edit not in viewer and run not in viewer
    operator = row_of(world.client_for(world.operator).get(url).content.decode(), world.schedule)
    assert run in operator and toggle not in operator and edit not in operator
    owner = row_of(world.client_for(world.owner).get(url).content.decode(), world.schedule)
    assert run in owner and toggle in owner and edit in owner


def test_pause_and_resume_from_the_list_return_to_the_list(world):
    client = world.client_for(world.owner)
    toggle = reverse("schedules:toggle", args=[world.schedule.pk])
    back = reverse("schedules:list")
    response = client.post(toggle, {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    world.schedule.refresh_from_db()
    assert not world.schedule.enabled and world.schedule.next_run_at is None
    row = row_of(client.get(back).content.decode(), world.schedule)
    assert "data-paused" in row and ">Resume<" in row
    client.post(toggle, {"next": back})
    world.schedule.refresh_from_db()
    assert world.schedule.enabled and world.schedule.next_run_at is not None
    # Elsewhere than this site is not followed.
    away = client.post(toggle, {"next": "https://evil.example.com/"})
    assert away["Location"] == reverse("databases:detail", args=[world.database.pk]) + "#schedules"


def test_run_now_queues_a_manual_backup_of_the_schedules_database(world):
    before = Backup.objects.count()
    response = world.client_for(world.operator).post(reverse("backups:run", args=[world.database.pk]))
    assert response.status_code == 302
    backup = Backup.objects.order_by("-id").first()
    assert Backup.objects.count() == before + 1
    assert (backup.database_id, backup.trigger, backup.status) == (world.database.pk, "manual", "pending")


def test_the_database_page_shows_the_same_reading_and_last_result(world):
    scheduled_backup(world.schedule, "partial", datetime(2026, 5, 1, tzinfo=UTC))
    html = world.client_for(world.owner).get(reverse("databases:detail", args=[world.database.pk])).content
    row = row_of(html.decode(), world.schedule)
    assert "At 00:00" in row and 'data-last-result="partial"' in row


def test_the_list_costs_the_same_queries_for_1_or_8_schedules(world, make_schedule):
    client = world.client_for(world.owner)
    url = reverse("schedules:list")
    scheduled_backup(world.schedule, "completed", datetime(2026, 5, 1, tzinfo=UTC))
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(7):
        s = make_schedule(
            world.database, name=f"extra-{i}", interval_value="custom", cron_expression=f"{i} 3 * * *"
        )
        scheduled_backup(s, "failed", datetime(2026, 5, 2, tzinfo=UTC))
    with CaptureQueriesContext(connection) as many:
        html = client.get(url).content.decode()
    assert html.count('data-last-result="failed"') == 7
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_editing_from_the_list_returns_to_the_list(world):
    client = world.client_for(world.owner)
    back = reverse("schedules:list")
    edit = reverse("schedules:update", args=[world.schedule.pk])
    row = row_of(client.get(back).content.decode(), world.schedule)
    assert f'href="{edit}?next=/schedules/"' in row
    form = client.get(edit + "?next=/schedules/").content.decode()
    assert '<input type="hidden" name="next" value="/schedules/">' in form
    assert 'href="/schedules/">Cancel</a>' in form
    body = {
        "name": "nightly",
        "interval_value": "daily",
        "run_time": "03:00",
        "timezone": "UTC",
        "enabled": "on",
    }
    saved = client.post(edit + "?next=/schedules/", body)
    assert saved.status_code == 302 and saved["Location"] == back
    world.schedule.refresh_from_db()
    assert world.schedule.cron_expression == "0 3 * * *"
    away = client.post(edit, {**body, "next": "https://evil.example.com/"})
    assert away["Location"] == reverse("databases:detail", args=[world.database.pk]) + "#schedules"


def test_deleting_from_the_list_returns_to_the_list(world):
    client = world.client_for(world.owner)
    delete = reverse("schedules:delete", args=[world.schedule.pk])
    row = row_of(client.get(reverse("schedules:list")).content.decode(), world.schedule)
    assert f'href="{delete}?next=/schedules/"' in row
    confirm = client.get(delete + "?next=/schedules/").content.decode()
    assert 'href="/schedules/">Cancel</a>' in confirm
    done = client.post(delete + "?next=/schedules/")
    assert done["Location"] == reverse("schedules:list")
    assert not Schedule.objects.filter(pk=world.schedule.pk).exists()
