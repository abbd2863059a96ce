"""The weekly digest: the right numbers for a group, queued once a week over all processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command

from apps.backups.models import Backup, BackupCopy, Drill
from apps.notifications import delivery, digest
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.schedules.worker.maintenance import Maintenance

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
MiB = 1024 * 1024


def backup(database, status, finished_at, copies=(), error=""):
    row = Backup.objects.create(
        database=database, status=status, finished_at=finished_at, created_at=finished_at, error=error
    )
    for i, (copy_status, size) in enumerate(copies):
        BackupCopy.objects.create(backup=row, destination_name=f"d{i}", status=copy_status, size_bytes=size)
    return row


def subscribe(group, events=("digest",), **fields):
    return NotificationChannel.objects.create(
        group=group,
        kind=fields.pop("kind", "email"),
        target=fields.pop("target", "ops@example.com"),
        events=list(events),
        **fields,
    )


@pytest.fixture
def week(make_database, make_group):
    """Two databases with known backups, copies and drills, plus rows that must not count."""
    crm = make_database(name="crm")
    shop = make_database(name="shop")
    done = BackupCopy.Status.COMPLETED
    # Inside the week: 2 completed, 1 partial, 2 failed.
    old_good = backup(crm, Backup.Status.COMPLETED, NOW - timedelta(days=10), [(done, 50 * MiB)])
    b1 = backup(crm, Backup.Status.COMPLETED, NOW - timedelta(days=1), [(done, 10 * MiB), (done, 10 * MiB)])
    backup(shop, Backup.Status.COMPLETED, NOW - timedelta(days=6, hours=23), [(done, 5 * MiB)])
    backup(
        shop,
        Backup.Status.PARTIAL,
        NOW - timedelta(days=3),
        [(done, 4 * MiB), (BackupCopy.Status.FAILED, None)],
    )
    backup(shop, Backup.Status.FAILED, NOW - timedelta(days=2), error="pg_dump: connection refused\nmore")
    backup(crm, Backup.Status.FAILED, NOW - timedelta(hours=5), error="disk full")
    # Outside the week (8 days ago) and still running: not counted as this week's backups.
    backup(crm, Backup.Status.FAILED, NOW - timedelta(days=8), error="old")
    Backup.objects.create(database=crm, status=Backup.Status.IN_PROGRESS)
    # Drills: crm's newest passed drill is of old_good, a newer one of b1 failed.
    scratch = make_database(name="scratch")
    Drill.objects.create(
        backup=old_good,
        target_database=scratch,
        status=Drill.Status.PASSED,
        finished_at=NOW - timedelta(days=9),
    )
    Drill.objects.create(
        backup=b1, target_database=scratch, status=Drill.Status.FAILED, finished_at=NOW - timedelta(hours=20)
    )
    # Another group's rows never leak into this one's digest.
    other = make_group(name="other")
    stranger = make_database(group=other, name="stranger")
    backup(stranger, Backup.Status.FAILED, NOW - timedelta(days=1), [(done, 999 * MiB)], error="x")
    return {"crm": crm, "shop": shop, "scratch": scratch, "old_good": old_good}


def test_the_digest_counts_the_weeks_backups_failures_storage_and_last_proven_restorable(group, week):
    payload = digest.build(group, NOW)
    assert payload["backups"] == {"total": 5, "completed": 2, "partial": 1, "failed": 2}
    assert [(f["database"], f["error"]) for f in payload["failures"]] == [
        ("crm", "disk full"),
        ("shop", "pg_dump: connection refused\nmore"),
    ]
    # Saved copies of the group: 50 + 10 + 10 + 5 + 4 MiB; this week's: all but the 50.
    assert payload["storage_bytes"] == 79 * MiB
    assert payload["storage_saved_this_week_bytes"] == 29 * MiB
    assert payload["storage_growth_bytes"] is None  # no earlier digest
    proven = {p["database"]: p for p in payload["last_proven_restorable"]}
    assert proven["crm"]["backup_id"] == week["old_good"].pk
    assert proven["crm"]["drilled_at"] == (NOW - timedelta(days=9)).isoformat()
    assert proven["shop"]["backup_id"] is None and proven["scratch"]["backup_id"] is None
    text = payload["text"]
    assert text.splitlines()[0] == (
        f"[BackupManager] Weekly digest for group {group.name}, 2026-11-23 to 2026-11-30: "
        "5 backup(s), 2 completed, 1 partial, 2 failed"
    )
    assert "- crm, 2026-11-30 03:00 UTC: disk full" in text
    assert "- shop, 2026-11-28 08:00 UTC: pg_dump: connection refused" in text
    assert "Storage used: 79.0 MiB (no earlier digest to compare with; 29.0 MiB saved this week)" in text
    assert (
        f"- crm: backup #{week['old_good'].pk} of 2026-11-20 08:00 UTC, drill passed 2026-11-21 08:00 UTC"
        in text
    )
    assert "- shop: never proven by a drill" in text


def test_growth_is_measured_against_the_previous_weeks_digest(group, week):
    subscribe(group)
    assert digest.queue_all(NOW - timedelta(days=7)) == 1
    assert NotificationLog.objects.get().payload["storage_bytes"] == 79 * MiB
    # Since then: retention deleted the 50 MiB backup, a new one saved 21 MiB.
    week["old_good"].delete()
    backup(
        week["shop"],
        Backup.Status.COMPLETED,
        NOW - timedelta(hours=1),
        [(BackupCopy.Status.COMPLETED, 21 * MiB)],
    )
    payload = digest.build(group, NOW)
    assert payload["storage_bytes"] == 50 * MiB
    assert payload["storage_growth_bytes"] == -29 * MiB
    assert payload["storage_previous_at"] == (NOW - timedelta(days=7)).isoformat()
    assert "Storage used: 50.0 MiB (-29.0 MiB since 2026-11-23; 50.0 MiB saved this week)" in payload["text"]


def test_a_digest_of_less_than_six_days_ago_is_not_the_week_before(group, week):
    subscribe(group)
    digest.queue_all(NOW - timedelta(days=5))
    assert digest.build(group, NOW)["storage_growth_bytes"] is None


def test_one_message_per_subscribed_channel_and_none_for_groups_without_one(group, week):
    mail_channel = subscribe(group)
    subscribe(group, events=("failed",))  # not subscribed to the digest
    subscribe(group, enabled=False)  # disabled
    assert digest.queue_all(NOW) == 1
    entry = NotificationLog.objects.get()
    assert entry.channel == mail_channel and entry.event == "digest"
    assert entry.status == NotificationLog.Status.PENDING


def test_a_digest_goes_out_by_email_through_the_queue_with_its_first_line_as_subject(group, week, settings):
    subscribe(group)
    digest.queue_all()
    assert delivery.deliver_due() == 1
    assert NotificationLog.objects.get().status == NotificationLog.Status.SENT
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith(f"[BackupManager] Weekly digest for group {group.name}")
    assert "Last proven restorable" in mail.outbox[0].body


def test_a_digest_goes_out_through_apprise_to_a_local_receiver(group, week, receiver):
    port = receiver.url.split(":")[2].split("/")[0]
    subscribe(group, kind="apprise", target=f"json://127.0.0.1:{port}/digest")
    digest.queue_all()
    assert delivery.deliver_due() == 1
    assert NotificationLog.objects.get().status == NotificationLog.Status.SENT
    sent = receiver.requests[0]["json"]
    assert sent["title"].startswith("[BackupManager] Weekly digest")
    assert "Storage used: 79.0 MiB" in sent["message"]


def test_it_is_queued_once_a_week_however_many_workers_and_commands_ask(group, week):
    subscribe(group)
    assert digest.run_if_due(NOW) == 1
    assert digest.run_if_due(NOW + timedelta(minutes=1)) is None  # another worker, a minute later
    assert digest.run_if_due(NOW + timedelta(days=6, hours=23)) is None
    assert NotificationLog.objects.count() == 1
    assert digest.run_if_due(NOW + timedelta(days=7)) == 1  # the next week
    assert NotificationLog.objects.count() == 2


def test_the_command_queues_once_a_week_and_force_queues_anyway(group, week, capsys):
    subscribe(group)
    call_command("digest")
    assert capsys.readouterr().out == "1 digest message(s) queued\n"
    call_command("digest")
    assert "nothing to do (--force to queue anyway)" in capsys.readouterr().out
    assert NotificationLog.objects.count() == 1
    call_command("digest", "--force")
    assert NotificationLog.objects.count() == 2


def test_the_worker_maintenance_step_queues_the_digest_once_across_workers(group, week):
    subscribe(group)

    class Periods:  # the worker's periods, long enough that only the digest step matters
        STALE_CHECK_EVERY = RETENTION_EVERY = PRUNE_EVERY = MAINTENANCE_EVERY = 1e9

    first, second = Maintenance(Periods()), Maintenance(Periods())
    try:
        first.step()
        second.step()
        first._last.clear()  # an hour later, as far as the step knows
        first.step()
    finally:
        first.stop()
        second.stop()
    assert NotificationLog.objects.filter(event="digest").count() == 1
