"""Silence: a scheduled database with no completed backup notifies "stale", with or without a worker;
a worker that is down is a notification and a failing /health of its own."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from apps.backups.models import Backup
from apps.notifications import notify, watchdog
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.schedules import worker_status
from apps.schedules.models import Schedule, WatchdogMark

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def hook(group, receiver):
    return NotificationChannel.objects.create(
        group=group, kind="webhook", target=receiver.url, events=["stale"]
    )


def hourly_created(make_database, make_schedule, at: datetime) -> Schedule:
    """An hourly schedule created at `at`, that no worker ever claimed."""
    schedule = make_schedule(make_database(), interval_value="hourly", cron_expression="0 * * * *")
    Schedule.objects.filter(pk=schedule.pk).update(created_at=at)
    schedule.refresh_from_db()
    return schedule


def stale_rows(database_id=None):
    rows = NotificationLog.objects.filter(event="stale")
    return rows.filter(database_id=database_id) if database_id else rows.filter(database__isnull=True)


def test_a_schedule_never_claimed_with_no_worker_notifies_stale_once_until_a_newer_backup(
    make_database, make_schedule, hook, receiver
):
    schedule = hourly_created(make_database, make_schedule, T0)
    database = schedule.database
    with time_machine.travel(T0 + timedelta(hours=1, minutes=59), tick=False):
        assert notify.check_stale() == 0  # within twice the interval
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        result = watchdog.run()
    assert result == {"worker_down": True, "stale": 1, "worker_down_queued": 1, "delivered": 2}
    assert stale_rows(database.pk).count() == 1
    by_reason = {r["json"].get("reason", "stale"): r["json"] for r in receiver.requests}
    assert by_reason["stale"]["database"] == database.name
    assert by_reason["stale"]["text"].startswith(f"[BackupManager] No completed backup of {database.name}")
    assert by_reason["worker_down"]["text"].startswith(
        "[BackupManager] Worker down: no worker has reported ever (no worker has started), 3.0 hours"
    )
    # A minute later and a day later: the same spell, nothing new.
    for later in (timedelta(hours=3, minutes=1), timedelta(hours=27)):
        with time_machine.travel(T0 + later, tick=False):
            assert watchdog.run()["stale"] == 0
    assert stale_rows(database.pk).count() == 1 and stale_rows().count() == 1
    # A newer completed backup ends the spell; two more silent hours start a new one.
    done = T0 + timedelta(hours=28)
    Backup.objects.create(database=database, status="completed", created_at=done, finished_at=done)
    with time_machine.travel(done + timedelta(hours=1), tick=False):
        assert notify.check_stale() == 0
    with time_machine.travel(done + timedelta(hours=2, minutes=1), tick=False):
        assert notify.check_stale() == 1
    assert stale_rows(database.pk).count() == 2


def test_health_fails_with_worker_down_when_a_schedule_waits_and_no_worker_ever_reported(
    make_database, make_schedule, client
):
    assert client.get("/health").status_code == 200  # nothing scheduled: a fresh install is fine
    hourly_created(make_database, make_schedule, timezone.now() - timedelta(minutes=1))
    assert client.get("/health").status_code == 200  # not yet longer than the threshold
    hourly_created(make_database, make_schedule, timezone.now() - timedelta(hours=3))
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing" and body["scheduler"]["worker_down"] is True
    assert body["scheduler"]["detail"].startswith("worker down: no worker has reported since ")
    worker_status.beat("w-1")
    response = client.get("/health")
    assert response.status_code == 200 and response.json()["scheduler"]["worker_down"] is False


def test_a_worker_that_stopped_beating_is_down_and_told_once_per_spell(make_database, make_schedule, hook):
    schedule = hourly_created(make_database, make_schedule, T0)
    Backup.objects.create(database=schedule.database, status="completed", created_at=T0, finished_at=T0)
    worker_status.beat("w-1", now=T0)
    with time_machine.travel(T0 + timedelta(seconds=60), tick=False):
        assert watchdog.check_worker_down() == 0  # alive
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        assert watchdog.check_worker_down() == 1
        assert watchdog.check_worker_down() == 0
    text = stale_rows().get().payload["text"]
    assert "Worker down: no worker has reported since 2026-06-01 12:00 UTC" in text
    assert "scheduled backups of team are not running" in text
    worker_status.beat("w-1", now=T0 + timedelta(hours=1))  # back, then gone again
    with time_machine.travel(T0 + timedelta(hours=1, minutes=10), tick=False):
        assert watchdog.check_worker_down() == 1
    assert stale_rows().count() == 2


def test_while_a_worker_is_alive_the_web_only_looks(make_database, make_schedule, hook):
    hourly_created(make_database, make_schedule, T0)
    worker_status.beat("w-1", now=T0 + timedelta(hours=3))
    with time_machine.travel(T0 + timedelta(hours=3, seconds=30), tick=False):
        assert watchdog.run() == {"worker_down": False, "stale": 0, "worker_down_queued": 0, "delivered": 0}
    assert not NotificationLog.objects.exists()


def test_the_check_runs_once_a_minute_however_often_health_is_asked(db):
    assert WatchdogMark.claim("x", timedelta(seconds=60), T0)
    assert not WatchdogMark.claim("x", timedelta(seconds=60), T0 + timedelta(seconds=59))
    assert WatchdogMark.claim("x", timedelta(seconds=60), T0 + timedelta(seconds=60))
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert watchdog.run_if_due() is not None
        assert watchdog.run_if_due() is None


@pytest.mark.django_db(transaction=True)
def test_a_get_of_health_with_no_worker_sends_the_stale_and_worker_down_messages(
    make_database, make_schedule, group, receiver, client
):
    NotificationChannel.objects.create(group=group, kind="webhook", target=receiver.url, events=["stale"])
    schedule = hourly_created(make_database, make_schedule, timezone.now() - timedelta(hours=3))
    assert client.get("/health").status_code == 503
    deadline = time.monotonic() + 15
    # Until both messages arrived and the web process's watchdog thread has ended.
    while (len(receiver.requests) < 2 or watchdog._running.locked()) and time.monotonic() < deadline:
        time.sleep(0.05)
    reasons = sorted(r["json"].get("reason", r["json"]["database"]) for r in receiver.requests)
    assert reasons == sorted(["worker_down", schedule.database.name])
    assert NotificationLog.objects.filter(status="sent").count() == 2


def test_the_watchdog_command_for_cron_queues_and_sends_without_a_worker(
    make_database, make_schedule, hook, receiver
):
    hourly_created(make_database, make_schedule, timezone.now() - timedelta(hours=3))
    out = io.StringIO()
    call_command("watchdog", stdout=out)
    assert out.getvalue().strip() == (
        "worker down: 1 stale and 1 worker-down notification(s) queued, 2 delivery attempt(s)"
    )
    assert len(receiver.requests) == 2
    out = io.StringIO()
    call_command("watchdog", stdout=out)
    assert "checked less than a minute ago" in out.getvalue()
