"""Retention per schedule: keep_last, keep_days, failures, partial backups, the preview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from apps.backups import lifecycle, retention
from apps.backups.models import Backup, Restore

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
C, P, F = Backup.Status.COMPLETED, Backup.Status.PARTIAL, Backup.Status.FAILED


@pytest.fixture
def setup(make_database, make_schedule, make_backup_with_file):
    """(database, schedule, add) where add(status, days_ago) creates a backup of the schedule with files."""
    database = make_database()
    schedule = make_schedule(database)

    def add(status, days_ago, *, sched=schedule, ok=None):
        if ok is None:
            ok = (True,) if status != F else (False,)
        return make_backup_with_file(
            database, status=status, created_at=NOW - timedelta(days=days_ago), schedule=sched, ok=ok
        )

    return database, schedule, add


def ids(decisions) -> list[int]:
    return sorted(d.backup_id for d in decisions)


def files_of(backup) -> list[Path]:
    return [Path(c.location) for c in backup.copies.all()]


def set_retention(schedule, keep_last=None, keep_days=None):
    schedule.keep_last, schedule.keep_days = keep_last, keep_days
    schedule.save(update_fields=["keep_last", "keep_days"])


def test_keep_last_deletes_the_oldest_good_backups_and_their_files(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_last=3)
    backups = [add(C, d) for d in range(6)]  # newest first
    old_files = [f for b in backups[3:] for f in files_of(b)]
    deleted = retention.apply(schedule, NOW)
    assert sorted(deleted) == sorted(b.pk for b in backups[3:])
    assert list(Backup.objects.order_by("-created_at").values_list("pk", flat=True)) == [
        b.pk for b in backups[:3]
    ]
    assert old_files and not any(f.exists() for f in old_files)
    assert all(f.exists() for b in backups[:3] for f in files_of(b))


def test_keep_days_deletes_good_backups_older_than_the_window(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_days=7)
    backups = {d: add(C, d) for d in range(0, 14)}
    plan = retention.plan(schedule, NOW)
    assert ids(plan.delete) == sorted(backups[d].pk for d in range(8, 14))
    assert "older than keep_days=7" in plan.delete[0].reason


def test_keep_last_and_keep_days_keep_the_union(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_last=5, keep_days=2)
    backups = [add(C, d * 2) for d in range(8)]  # 0, 2, ..., 14 days old
    plan = retention.plan(schedule, NOW)
    assert ids(plan.delete) == sorted(b.pk for b in backups[5:])


def test_when_all_recent_backups_failed_no_good_backup_is_deleted_by_age(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_days=7)
    recent_failures = [add(F, d) for d in range(0, 10)]
    good = [add(C, d) for d in range(10, 20)]
    plan = retention.plan(schedule, NOW)
    assert not set(ids(plan.delete)) & {b.pk for b in good}
    # Failed records have their own rule: older than 7 days go.
    assert ids(plan.delete) == sorted(b.pk for b in recent_failures[8:])
    retention.apply(schedule, NOW)
    assert Backup.objects.filter(status=C).count() == 10


def test_with_keep_last_failures_do_not_use_up_the_slots(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_last=2)
    failures = [add(F, d / 10) for d in range(5)]
    good = [add(C, d) for d in range(1, 5)]
    plan = retention.plan(schedule, NOW)
    assert ids(plan.delete) == sorted(b.pk for b in good[2:])
    assert set(ids(plan.keep)) == {b.pk for b in failures + good[:2]}


def test_the_newest_completed_backup_of_the_database_is_never_deleted(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_last=1, keep_days=1)
    partials = [add(P, d) for d in (2, 3)]
    newest_good = add(C, 4)
    older = add(C, 5)
    plan = retention.plan(schedule, NOW)
    keep = {d.backup_id: d.reason for d in plan.keep}
    assert keep[newest_good.pk] == "newest completed backup of the database"
    # A partial is never "a newer good backup": nothing older than the newest good one's own age goes.
    assert {partials[0].pk, partials[1].pk} <= set(keep)
    assert "no newer completed backup exists" in keep[partials[1].pk]
    # keep_days has no completed backup inside its window: age pruning is paused.
    assert older.pk in keep and "paused" in keep[older.pk]
    assert plan.delete == []


def test_a_newer_manual_backup_counts_as_good_but_is_never_deleted_by_a_schedule(
    setup, make_backup_with_file
):
    database, schedule, add = setup
    set_retention(schedule, keep_last=1)
    manual = make_backup_with_file(database, status=C, created_at=NOW, trigger="manual")
    scheduled = [add(C, d) for d in (1, 2)]
    plan = retention.plan(schedule, NOW)
    assert ids(plan.delete) == [scheduled[1].pk]
    assert manual.pk not in ids(plan.delete) + ids(plan.keep)


def test_a_partial_backup_beyond_keep_last_goes_with_the_file_of_its_saved_copy(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_last=1)
    add(C, 0)
    partial = add(P, 1, ok=(True, False))
    saved = [Path(c.location) for c in partial.copies.filter(status="completed")]
    assert saved[0].exists()
    assert retention.apply(schedule, NOW) == [partial.pk]
    assert not Backup.objects.filter(pk=partial.pk).exists()
    assert not saved[0].exists()


def test_failed_records_beyond_the_newest_twenty_are_pruned(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_last=10)
    add(C, 0.5)
    failures = [add(F, h / 24) for h in range(25)]
    plan = retention.plan(schedule, NOW)
    assert ids(plan.delete) == sorted(b.pk for b in failures[20:])
    assert all("beyond the newest 20" in d.reason for d in plan.delete)


def test_running_backups_and_backups_being_restored_are_kept(setup, make_database):
    database, schedule, add = setup
    set_retention(schedule, keep_last=1)
    add(C, 0)
    restored = add(C, 1)
    running = add(C, 2)
    Backup.objects.filter(pk=running.pk).update(status=Backup.Status.IN_PROGRESS)
    Restore.objects.create(backup=restored, target_database=make_database(), status="in_progress")
    plan = retention.plan(schedule, NOW)
    assert plan.delete == []
    assert running.pk not in ids(plan.keep)  # not even considered
    assert "restore" in {d.backup_id: d.reason for d in plan.keep}[restored.pk]


def test_a_schedule_without_retention_keeps_everything(setup):
    _, schedule, add = setup
    for d in range(5):
        add(C, d * 100)
    add(F, 300)
    plan = retention.plan(schedule, NOW)
    assert plan.delete == [] and len(plan.keep) == 6


def test_the_preview_equals_what_the_next_pass_deletes(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_last=2, keep_days=3)
    for d in range(8):
        add(C if d % 3 else F, d)
    add(P, 9)
    with time_machine.travel(NOW, tick=False):
        preview = retention.preview(schedule)
        deleted = retention.apply(schedule)
    assert set(preview) == {"delete", "keep"}
    assert preview["delete"] and all(set(d) == {"backup_id", "reason"} for d in preview["delete"])
    assert sorted(d["backup_id"] for d in preview["delete"]) == sorted(deleted)
    assert sorted(Backup.objects.values_list("pk", flat=True)) == sorted(
        d["backup_id"] for d in preview["keep"]
    )
    with time_machine.travel(NOW, tick=False):
        assert retention.preview(schedule)["delete"] == []


def test_retention_runs_after_a_finished_scheduled_backup(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_last=2)
    old = [add(C, d) for d in (3, 2, 1)]
    newest = add(C, 0)
    Backup.objects.filter(pk=newest.pk).update(status="in_progress", worker_id="w")
    newest.refresh_from_db()
    with time_machine.travel(NOW, tick=False):
        assert lifecycle.finish(newest, C)  # whoever finishes it, the run_finished event prunes
    assert sorted(Backup.objects.values_list("pk", flat=True)) == sorted([newest.pk, old[2].pk])


def test_the_sweep_applies_every_schedule_with_retention(setup, make_schedule):
    database, schedule, add = setup
    set_retention(schedule, keep_last=1)
    other = make_schedule(database, keep_last=1)
    add(C, 0)
    add(C, 1)
    add(C, 2, sched=other)
    add(C, 3, sched=other)
    assert retention.sweep(NOW) == 2
    assert Backup.objects.count() == 2


def test_a_backup_whose_copy_is_under_object_lock_is_kept_until_the_lock_ends(setup):
    _, schedule, add = setup
    set_retention(schedule, keep_last=1)
    old = add(C, 3)
    add(C, 0)
    until = NOW + timedelta(days=2)
    old.copies.update(locked_until=until)
    with time_machine.travel(NOW, tick=False):
        assert retention.apply(schedule) == []
        assert {
            "backup_id": old.pk,
            "reason": f"a copy is locked until {until:%Y-%m-%d %H:%M} UTC (Object Lock)",
        } in retention.preview(schedule)["keep"]
    with time_machine.travel(until + timedelta(minutes=1), tick=False):
        assert retention.apply(schedule) == [old.pk]
