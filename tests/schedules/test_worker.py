"""The worker's steps, called directly under frozen time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from apps.backups import lifecycle
from apps.backups.models import Backup, BackupCopy, Restore
from apps.schedules import worker
from apps.schedules.models import Schedule, ScheduleRun, WorkerHeartbeat
from apps.schedules.worker import loop
from apps.schedules.worker_status import scheduler_health

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def hourly(make_schedule, database, next_run_at=T0, **kw):
    return make_schedule(
        database, interval_value="hourly", cron_expression="0 * * * *", next_run_at=next_run_at, **kw
    )


def test_two_workers_racing_on_one_schedule_yield_one_backup(make_database, make_schedule):
    schedule = hourly(make_schedule, make_database())
    seen_by_a = Schedule.objects.get(pk=schedule.pk)
    seen_by_b = Schedule.objects.get(pk=schedule.pk)
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        now = datetime.now(UTC)
        first = worker.claim_schedule(seen_by_a, now, "worker-a")
        second = worker.claim_schedule(seen_by_b, now, "worker-b")
    assert first is not None and second is None
    assert Backup.objects.count() == 1
    backup = Backup.objects.get()
    assert (backup.trigger, backup.status, backup.worker_id) == ("scheduled", "in_progress", "worker-a")
    run = ScheduleRun.objects.get()
    assert run.slot_at == T0 and run.backup_id == backup.pk
    schedule.refresh_from_db()
    assert schedule.next_run_at == T0 + timedelta(hours=1)


def test_a_worker_started_three_hours_late_runs_an_hourly_schedule_once(make_database, make_schedule):
    schedule = hourly(make_schedule, make_database())
    with time_machine.travel(T0 + timedelta(hours=3, minutes=5), tick=False):
        now = datetime.now(UTC)
        claimed = worker.claim_due(now, "w", limit=10)
        again = worker.claim_due(now, "w", limit=10)
    assert len(claimed) == 1 and again == []
    schedule.refresh_from_db()
    assert schedule.next_run_at == T0 + timedelta(hours=4)  # the next future slot
    assert list(ScheduleRun.objects.values_list("slot_at", flat=True)) == [T0]


def test_a_schedule_not_yet_due_is_not_claimed(make_database, make_schedule):
    hourly(make_schedule, make_database())
    with time_machine.travel(T0 - timedelta(seconds=1), tick=False):
        assert worker.claim_due(datetime.now(UTC), "w", limit=10) == []
    assert not Backup.objects.exists()


def test_a_disabled_schedule_is_not_claimed(make_database, make_schedule):
    hourly(make_schedule, make_database(), enabled=False)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        assert worker.claim_due(datetime.now(UTC), "w", limit=10) == []


def test_a_due_schedule_waits_while_its_database_is_busy(make_database, make_schedule, make_backup):
    database = make_database()
    schedule = hourly(make_schedule, database)
    running = make_backup(database, status=Backup.Status.IN_PROGRESS, worker_id="other")
    with time_machine.travel(T0 + timedelta(seconds=2), tick=False):
        assert worker.claim_due(datetime.now(UTC), "w", limit=10) == []
        schedule.refresh_from_db()
        assert schedule.next_run_at == T0  # still waiting for its slot
        Backup.objects.filter(pk=running.pk).update(status=Backup.Status.COMPLETED)
        claimed = worker.claim_due(datetime.now(UTC), "w", limit=10)
    assert len(claimed) == 1
    assert ScheduleRun.objects.get().slot_at == T0


def test_two_due_schedules_of_one_database_never_run_at_once(make_database, make_schedule):
    database = make_database()
    hourly(make_schedule, database, name="a")
    hourly(make_schedule, database, name="b")
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        claimed = worker.claim_due(datetime.now(UTC), "w", limit=10)
    assert len(claimed) == 1
    assert Backup.objects.filter(status="in_progress").count() == 1


def test_claims_stop_at_the_number_of_free_slots(make_database, make_schedule):
    for _ in range(5):
        hourly(make_schedule, make_database())
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        assert len(worker.claim_due(datetime.now(UTC), "w", limit=3)) == 3
        assert len(worker.claim_due(datetime.now(UTC), "w", limit=0)) == 0
        assert len(worker.claim_due(datetime.now(UTC), "w", limit=3)) == 2


def test_the_schedule_run_unique_slot_is_the_second_guard(make_database, make_schedule):
    schedule = hourly(make_schedule, make_database())
    ScheduleRun.objects.create(schedule=schedule, slot_at=T0)  # this slot already ran
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        assert worker.claim_schedule(schedule, datetime.now(UTC), "w") is None
    assert not Backup.objects.exists()
    schedule.refresh_from_db()
    assert schedule.next_run_at == T0 + timedelta(hours=1)


def test_a_pending_manual_backup_is_claimed_once(make_database, make_backup):
    database = make_database()
    backup = make_backup(database, status=Backup.Status.PENDING)
    with time_machine.travel(T0, tick=False):
        assert worker.claim_backup(backup.pk, database.pk, "w1") is True
        assert worker.claim_backup(backup.pk, database.pk, "w2") is False
    backup.refresh_from_db()
    assert (backup.status, backup.worker_id, backup.heartbeat_at, backup.started_at) == (
        "in_progress",
        "w1",
        T0,
        T0,
    )


def test_a_pending_restore_is_claimed_once_and_not_into_a_busy_database(make_database, make_backup):
    source, target = make_database(), make_database()
    backup = make_backup(source)
    restore = Restore.objects.create(backup=backup, target_database=target)
    make_backup(target, status=Backup.Status.IN_PROGRESS)
    assert worker.claim_due(datetime.now(UTC), "w", limit=5) == []
    Backup.objects.filter(database=target).update(status=Backup.Status.COMPLETED)
    claimed = worker.claim_due(datetime.now(UTC), "w", limit=5)
    assert [(c.kind, c.pk) for c in claimed] == [("restore", restore.pk)]
    restore.refresh_from_db()
    assert (restore.status, restore.worker_id) == ("in_progress", "w")


def test_claims_follow_due_order_across_schedules_and_manual_backups(
    make_database, make_schedule, make_backup
):
    early = make_backup(make_database(), status=Backup.Status.PENDING, created_at=T0 - timedelta(minutes=5))
    hourly(make_schedule, make_database())
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        claimed = worker.claim_due(datetime.now(UTC), "w", limit=1)
    assert [(c.kind, c.pk) for c in claimed] == [("backup", early.pk)]


def test_the_reaper_fails_a_stale_backup_and_removes_its_partial_file(
    make_database, make_destination, make_backup
):
    database = make_database()
    dest = make_destination(database)
    with time_machine.travel(T0, tick=False):
        backup = make_backup(database, status=Backup.Status.IN_PROGRESS, heartbeat_at=T0, worker_id="dead")
    location = Path(dest.path) / "x.dump"
    partial = Path(str(location) + ".partial")
    partial.write_bytes(b"half")
    BackupCopy.objects.create(
        backup=backup,
        destination=dest,
        destination_name=dest.name,
        location=str(location),
        status="in_progress",
    )
    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        assert worker.reap_stale(datetime.now(UTC), stale_seconds=60) == NOTHING_REAPED
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        live = {"backup": {backup.pk}}
        assert worker.reap_stale(datetime.now(UTC), stale_seconds=60, live=live) == NOTHING_REAPED
        assert worker.reap_stale(datetime.now(UTC), stale_seconds=60) == {
            **NOTHING_REAPED,
            "backup": [backup.pk],
        }
    backup.refresh_from_db()
    assert (backup.status, backup.error) == ("failed", "interrupted: worker stopped")
    assert not partial.exists()
    assert backup.copies.get().status == "failed"


NOTHING_REAPED = {"backup": [], "restore": [], "verification": [], "drill": []}


def test_the_reaper_fails_a_stale_restore(make_database, make_backup):
    source, target = make_database(), make_database()
    restore = Restore.objects.create(
        backup=make_backup(source), target_database=target, status="in_progress", heartbeat_at=T0
    )
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        assert worker.reap_stale(datetime.now(UTC), stale_seconds=60) == {
            **NOTHING_REAPED,
            "restore": [restore.pk],
        }
    restore.refresh_from_db()
    assert (restore.status, restore.error) == ("failed", "interrupted: worker stopped")


def test_refreshing_heartbeats_touches_only_this_workers_running_jobs(make_database, make_backup):
    mine = make_backup(make_database(), status="in_progress", worker_id="me", heartbeat_at=T0)
    theirs = make_backup(make_database(), status="in_progress", worker_id="them", heartbeat_at=T0)
    later = T0 + timedelta(seconds=10)
    assert worker.refresh_heartbeats("me", {"backup": {mine.pk, theirs.pk}}, later) == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.heartbeat_at, theirs.heartbeat_at) == (later, T0)


def test_sleep_lasts_until_the_next_due_schedule_capped_at_one_second(make_database, make_schedule):
    hourly(make_schedule, make_database())
    scheduler = worker.Scheduler(concurrency=1, worker_id="w")
    with time_machine.travel(T0 - timedelta(seconds=0.3), tick=False):
        assert scheduler.sleep_seconds() == pytest.approx(0.3)
    with time_machine.travel(T0 - timedelta(minutes=10), tick=False):
        assert scheduler.sleep_seconds() == 1.0


def test_a_pass_writes_the_worker_heartbeat_that_health_reports(make_database, client):
    scheduler = worker.Scheduler(concurrency=1, worker_id="w-1")
    assert scheduler_health()["status"] == "unknown"
    with time_machine.travel(T0, tick=False):
        scheduler.run_pass()
        health = scheduler_health()
        assert (health["status"], health["age_seconds"], health["workers"]) == ("ok", 0.0, 1)
        assert client.get("/health").status_code == 200
    assert WorkerHeartbeat.objects.get().worker_id == "w-1"
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        health = scheduler_health()
        assert health["status"] == "stale" and health["age_seconds"] == 600.0
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["scheduler"]["status"] == "stale"


@pytest.mark.django_db(transaction=True)
def test_shutdown_after_the_grace_period_marks_a_blocked_job_interrupted(
    backed_database, make_backup, monkeypatch
):
    database = backed_database()
    backup = make_backup(database, status=Backup.Status.PENDING)
    started = threading.Event()

    def blocked_job(backup, cancel):
        started.set()
        cancel.wait(30)  # a dump that stops when cancelled, without recording anything

    monkeypatch.setitem(loop.RUNNERS, "backup", blocked_job)
    scheduler = worker.Scheduler(concurrency=1, grace_seconds=0.2, worker_id="w")
    scheduler.run_pass()
    assert started.wait(5)
    interrupted = scheduler.shutdown()
    assert interrupted == [("backup", backup.pk)]
    backup.refresh_from_db()
    assert (backup.status, backup.error) == ("failed", "interrupted: worker stopped")
    assert WorkerHeartbeat.objects.get(worker_id="w").stopped_at is not None


@pytest.mark.django_db(transaction=True)
def test_shutdown_lets_a_job_that_finishes_within_the_grace_period_complete(backed_database, make_backup):
    database = backed_database()
    backup = make_backup(database, status=Backup.Status.PENDING)
    scheduler = worker.Scheduler(concurrency=1, grace_seconds=30, worker_id="w")
    # The pass's steps one by one, so only the job thread writes while it runs (the suite's
    # in-memory SQLite locks whole tables across threads; file databases just wait).
    [claimed] = worker.claim_due(datetime.now(UTC), "w", limit=1)
    scheduler.beat()
    scheduler._submit(claimed)
    scheduler.stop()
    assert scheduler.shutdown() == []
    backup.refresh_from_db()
    assert backup.status == "completed"


@pytest.mark.django_db(transaction=True)
def test_keep_alive_refreshes_the_heartbeat_of_a_job_run_outside_the_worker(make_database, make_backup):
    from tests.polling import wait_until

    backup = make_backup(make_database(), status=Backup.Status.IN_PROGRESS, heartbeat_at=T0)
    with lifecycle.keep_alive(backup, every=0.05):
        wait_until(
            lambda: Backup.objects.get(pk=backup.pk).heartbeat_at > T0 + timedelta(days=1),
            what="a refreshed heartbeat",
        )


@pytest.mark.django_db(transaction=True)
def test_a_second_signal_ends_the_grace_period_at_once(backed_database, make_backup, monkeypatch):
    import time

    database = backed_database()
    backup = make_backup(database, status=Backup.Status.PENDING)
    started = threading.Event()

    def blocked_job(backup, cancel):
        started.set()
        cancel.wait(30)

    monkeypatch.setitem(loop.RUNNERS, "backup", blocked_job)
    scheduler = worker.Scheduler(concurrency=1, grace_seconds=60, worker_id="w")
    scheduler.run_pass()
    assert started.wait(5)
    scheduler._on_signal(15, None)
    threading.Timer(0.3, scheduler._on_signal, args=(2, None)).start()
    t = time.monotonic()
    assert scheduler.shutdown() == [("backup", backup.pk)]
    assert time.monotonic() - t < 5
