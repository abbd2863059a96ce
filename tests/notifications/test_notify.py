"""Backup events become queued deliveries; the delivery step sends, retries with back-off, and logs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from apps.backups.models import Backup
from apps.notifications import delivery, notify
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.schedules import worker

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def hook(group, receiver):
    return NotificationChannel.objects.create(
        group=group, kind="webhook", target=receiver.url, events=["failed", "partial", "recovered", "stale"]
    )


def finished(make_database_or_db, status, error="", created_at=None, **kw):
    return Backup.objects.create(
        database=make_database_or_db,
        status=status,
        error=error,
        created_at=created_at or T0,
        finished_at=created_at or T0,
        **kw,
    )


def test_a_failed_backup_queues_one_delivery_per_subscribed_channel(make_database, group, hook):
    NotificationChannel.objects.create(
        group=group, kind="email", target="a@example.com", events=["recovered"]
    )
    NotificationChannel.objects.create(
        group=group, kind="email", target="b@example.com", events=["failed"], enabled=False
    )
    database = make_database()
    backup = finished(database, "failed", "pg_dump: connection refused")
    assert notify.backup_finished(backup) == 1
    entry = NotificationLog.objects.get()
    assert (entry.channel_id, entry.event, entry.status, entry.backup_id) == (
        hook.pk,
        "failed",
        "pending",
        backup.pk,
    )


def test_the_delivery_step_posts_slack_text_and_structured_fields(make_database, hook, receiver):
    database = make_database()
    backup = finished(database, "failed", "pg_dump: connection refused")
    notify.backup_finished(backup)
    assert delivery.deliver_due() == 1
    [request] = receiver.requests
    body = request["json"]
    assert (
        body["text"]
        == f"[BackupManager] Backup of {database.name} (team) failed: pg_dump: connection refused"
    )
    assert {k: body[k] for k in ("event", "database", "group", "backup_id", "status", "error")} == {
        "event": "failed",
        "database": database.name,
        "group": "team",
        "backup_id": backup.pk,
        "status": "failed",
        "error": "pg_dump: connection refused",
    }
    assert body["url"].endswith(f"/api/backups/{backup.pk}")
    assert "x-backupmanager-signature" not in request["headers"]  # no secret, no signature
    entry = NotificationLog.objects.get()
    assert (entry.status, entry.attempts, entry.response_code) == ("sent", 1, 200)


def test_partial_and_recovered_events(make_database, hook):
    database = make_database()
    assert notify.events_for_finished_backup(finished(database, "completed", created_at=T0)) == []
    assert notify.events_for_finished_backup(
        finished(database, "partial", "s3 down", created_at=T0 + timedelta(1))
    ) == ["partial"]
    assert notify.events_for_finished_backup(
        finished(database, "completed", created_at=T0 + timedelta(2))
    ) == ["recovered"]
    finished(database, "failed", "x", created_at=T0 + timedelta(3))
    back = finished(database, "completed", created_at=T0 + timedelta(4))
    assert notify.events_for_finished_backup(back) == ["recovered"]
    again = finished(database, "completed", created_at=T0 + timedelta(5))
    assert notify.events_for_finished_backup(again) == []  # only the first success after a failure


def test_email_channels_use_djangos_mail(make_database, group):
    NotificationChannel.objects.create(group=group, kind="email", target="ops@example.com", events=["failed"])
    database = make_database()
    notify.backup_finished(finished(database, "failed", "disk full"))
    delivery.deliver_due()
    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert message.subject == f"[BackupManager] Backup of {database.name} (team) failed: disk full"
    assert "error: disk full" in message.body


def test_a_failing_webhook_is_retried_with_back_off_then_given_up(make_database, hook, receiver):
    receiver.status = 503
    with time_machine.travel(T0, tick=False):
        notify.backup_finished(finished(make_database(), "failed", "x"))
    at = T0
    waits = []
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        with time_machine.travel(at, tick=False):
            assert delivery.deliver_due() == 1
            assert delivery.deliver_due() == 0  # not due again yet
        entry = NotificationLog.objects.get()
        assert entry.attempts == attempt and entry.last_error == "the webhook answered HTTP 503"
        if attempt < delivery.MAX_ATTEMPTS:
            assert entry.status == "pending"
            waits.append((entry.next_attempt_at - at).total_seconds())
            at = entry.next_attempt_at
    assert waits == list(delivery.BACKOFF_SECONDS)
    assert entry.status == "failed" and len(receiver.requests) == delivery.MAX_ATTEMPTS


def test_a_webhook_that_does_not_answer_times_out_and_is_retried(make_database, hook, receiver, monkeypatch):
    monkeypatch.setattr(delivery, "TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(delivery.send_webhook, "__defaults__", (0.5,))
    monkeypatch.setattr(delivery.send, "__defaults__", (0.5,))
    receiver.delay = 3
    notify.backup_finished(finished(make_database(), "failed", "x"))
    started = time.monotonic()
    delivery.deliver_due()
    assert time.monotonic() - started < 2
    entry = NotificationLog.objects.get()
    assert entry.status == "pending" and entry.last_error == "no answer from the webhook within 0.5 s"


def test_an_unreachable_webhook_is_logged_not_raised(make_database, group, settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    NotificationChannel.objects.create(
        group=group, kind="webhook", target="http://127.0.0.1:9/x", events=["failed"]
    )
    notify.backup_finished(finished(make_database(), "failed", "x"))
    delivery.deliver_due()
    entry = NotificationLog.objects.get()
    assert entry.status == "pending" and entry.last_error == "the webhook could not be reached"


def test_a_row_left_sending_by_a_dead_worker_is_sent_again_later(make_database, hook, receiver):
    with time_machine.travel(T0, tick=False):
        notify.backup_finished(finished(make_database(), "failed", "x"))
    entry = NotificationLog.objects.get()
    with time_machine.travel(T0, tick=False):
        assert delivery.claim(entry.pk, 0, T0)  # claimed, then the worker died
        assert delivery.deliver_due() == 0
    with time_machine.travel(T0 + delivery.RECLAIM_AFTER + timedelta(seconds=1), tick=False):
        assert delivery.deliver_due() == 1
    assert NotificationLog.objects.get().status == "sent"


def test_two_workers_never_claim_the_same_delivery(make_database, hook):
    notify.backup_finished(finished(make_database(), "failed", "x"))
    entry = NotificationLog.objects.get()
    assert delivery.claim(entry.pk, 0, T0) is True
    assert delivery.claim(entry.pk, 0, T0) is False


def test_an_interrupted_backup_notifies_failed(make_database, hook):
    backup = Backup.objects.create(database=make_database(), status="in_progress", heartbeat_at=T0)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        worker.reap_stale(datetime.now(UTC), stale_seconds=60)
    entry = NotificationLog.objects.get()
    assert (entry.event, entry.backup_id) == ("failed", backup.pk)
    assert entry.payload["error"] == "interrupted: worker stopped"


def test_stale_is_sent_once_when_no_backup_completed_within_twice_the_interval(
    make_database, make_schedule, hook, receiver
):
    database = make_database()
    make_schedule(database, interval_value="hourly", cron_expression="0 * * * *")
    finished(database, "completed", created_at=T0)
    with time_machine.travel(T0 + timedelta(hours=1, minutes=59), tick=False):
        assert notify.check_stale() == 0
    with time_machine.travel(T0 + timedelta(hours=2, minutes=1), tick=False):
        assert notify.check_stale() == 1
        assert notify.check_stale() == 0  # once per stale spell
        delivery.deliver_due()
    body = receiver.requests[0]["json"]
    assert body["event"] == "stale" and body["database"] == database.name
    assert body["text"].startswith(
        f"[BackupManager] No completed backup of {database.name} (team) for 2.0 hours"
    )
    finished(database, "completed", created_at=T0 + timedelta(hours=3))
    with time_machine.travel(T0 + timedelta(hours=4), tick=False):
        assert notify.check_stale() == 0
    with time_machine.travel(T0 + timedelta(hours=5, minutes=1), tick=False):
        assert notify.check_stale() == 1  # a new spell


def test_stale_uses_the_cron_interval_of_a_daily_schedule(make_database, make_schedule, hook):
    database = make_database()
    make_schedule(database, interval_value="daily", cron_expression="0 0 * * *")
    finished(database, "completed", created_at=T0)
    with time_machine.travel(T0 + timedelta(hours=47), tick=False):
        assert notify.check_stale() == 0
    with time_machine.travel(T0 + timedelta(hours=49), tick=False):
        assert notify.check_stale() == 1
