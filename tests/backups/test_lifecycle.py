"""The lifecycle of runs: compare-and-set transitions, one run_finished event, the same side effects
whoever runs the job (worker, reaper, shutdown, `manage.py backup`), and what dead workers leave."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.backups import lifecycle, runner, services
from apps.backups.models import Backup, Restore, Verification
from apps.backups.streams import WORKDIR_PREFIX, Workdir, remove_dead_workdirs, remove_own_workdirs
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.schedules.worker import Maintenance
from tests.backups.test_pipeline import BytesDump
from tests.backups.test_runner import FakeEngine, files_in


@pytest.fixture
def channel(group):
    return NotificationChannel.objects.create(
        group=group,
        kind="webhook",
        target="http://127.0.0.1:9/hook",
        events=["failed", "partial", "recovered"],
    )


@pytest.fixture
def events():
    """Every run_finished event sent during the test, as (model name, pk, status)."""
    seen: list[tuple[str, int, str]] = []

    def record(sender, run, **kwargs):
        seen.append((sender._meta.model_name, run.pk, run.status))

    lifecycle.run_finished.connect(record, dispatch_uid="test-recorder")
    yield seen
    lifecycle.run_finished.disconnect(dispatch_uid="test-recorder")


def running(database, worker_id="w1") -> Backup:
    now = timezone.now()
    return Backup.objects.create(
        database=database, status="in_progress", worker_id=worker_id, started_at=now, heartbeat_at=now
    )


def test_finish_refuses_a_status_that_is_not_terminal(sqlite_database):
    with pytest.raises(ValueError, match="'in_progress' is not a terminal backup status"):
        lifecycle.finish(running(sqlite_database), "in_progress")


def test_a_run_is_finished_once_and_emits_one_event(sqlite_database, events):
    backup = running(sqlite_database)
    assert lifecycle.finish(backup, "completed")
    assert not lifecycle.finish(backup, "failed", "late")  # it left in_progress already
    backup.refresh_from_db()
    assert (backup.status, backup.error) == ("completed", "")
    assert events == [("backup", backup.pk, "completed")]


def test_only_the_owning_worker_can_finish_a_run(sqlite_database, events):
    backup = running(sqlite_database, worker_id="w1")
    stranger = Backup.objects.get(pk=backup.pk)
    stranger.worker_id = "w2"
    assert not lifecycle.finish(stranger, "completed")
    assert Backup.objects.get(pk=backup.pk).status == "in_progress"
    assert events == []


def test_a_run_reaped_meanwhile_is_not_overwritten_by_its_first_owner_and_notifies_once(
    sqlite_database, channel, events
):
    backup = running(sqlite_database)
    owner_view = Backup.objects.get(pk=backup.pk)
    reaper_view = Backup.objects.get(pk=backup.pk)
    assert lifecycle.interrupt(reaper_view, heartbeat_at=reaper_view.heartbeat_at)

    assert not lifecycle.finish(owner_view, "completed")

    backup.refresh_from_db()
    assert (backup.status, backup.error) == ("failed", lifecycle.INTERRUPTED)
    assert events == [("backup", backup.pk, "failed")]
    assert list(NotificationLog.objects.values_list("event", flat=True)) == ["failed"]


def test_the_reaper_leaves_a_run_whose_heartbeat_moved_since_it_read_it(sqlite_database, events):
    backup = running(sqlite_database)
    read_at = backup.heartbeat_at
    Backup.objects.filter(pk=backup.pk).update(heartbeat_at=read_at + timedelta(seconds=5))
    assert not lifecycle.interrupt(backup, heartbeat_at=read_at)
    assert Backup.objects.get(pk=backup.pk).status == "in_progress"
    assert events == []


def test_a_backup_reaped_while_its_dump_ran_ends_failed_and_its_owner_removes_the_file(
    sqlite_database, make_destination, channel, monkeypatch, events
):
    dest = make_destination(sqlite_database)
    backup = running(sqlite_database, worker_id="slow-worker")

    class ReapedMidway(BytesDump):
        def read(self, size):
            if self._fh.tell() == 0:  # another worker takes the run for dead
                stale = Backup.objects.get(pk=backup.pk)
                assert lifecycle.interrupt(stale, heartbeat_at=stale.heartbeat_at)
            return super().read(size)

    engine = FakeEngine(make_stream=lambda: ReapedMidway(b"x" * 100_000))
    monkeypatch.setattr(runner, "get_engine", lambda name: engine)

    result = runner.run_backup(backup)

    assert (result.status, result.error) == ("failed", lifecycle.INTERRUPTED)
    assert files_in(Path(dest.path)) == []  # the owner's complete file went: nobody's record knows it
    assert result.copies.get().status == "failed"
    assert events == [("backup", backup.pk, "failed")]
    assert NotificationLog.objects.filter(event="failed").count() == 1


def test_manage_py_backup_raises_the_same_event_and_notification_as_the_worker(
    sqlite_database, make_destination, channel, events
):
    make_destination(sqlite_database, enabled=False)  # nothing to write to: the run fails
    with pytest.raises(Exception, match="failed: no enabled destination"):
        call_command("backup", str(sqlite_database.pk))
    backup = Backup.objects.get()
    assert events == [("backup", backup.pk, "failed")]
    assert list(NotificationLog.objects.values_list("event", "backup_id")) == [("failed", backup.pk)]


def test_a_backup_cannot_be_deleted_while_a_restore_reads_it(sqlite_database, make_backup, user):
    backup = make_backup(sqlite_database, status="completed")
    Restore.objects.create(backup=backup, target_database=sqlite_database, status="in_progress")
    with pytest.raises(services.BackupBusy, match=r"is being restored \(restore #\d+\)"):
        services.delete_backup(backup, delete_files=True)
    assert Backup.objects.filter(pk=backup.pk).exists()


def test_a_backup_cannot_be_deleted_while_it_is_being_verified(sqlite_database, make_backup):
    backup = make_backup(sqlite_database, status="completed")
    Verification.objects.create(backup=backup, status="pending")
    with pytest.raises(services.BackupBusy, match="is being verified"):
        services.delete_backup(backup, delete_files=False)


def test_a_queued_verification_is_reused_not_doubled(sqlite_database, make_backup, user):
    backup = make_backup(sqlite_database, status="completed")
    first = services.request_verification(backup, user)
    assert services.request_verification(backup, user).pk == first.pk
    assert Verification.objects.count() == 1


def test_worker_start_removes_the_temp_folders_of_dead_processes_only(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f"{WORKDIR_PREFIX}{dead.pid}-abc"
    left.mkdir()
    (left / "pgpass").write_text("secret")
    mine = tmp_path / f"{WORKDIR_PREFIX}{os.getpid()}-def"
    mine.mkdir()
    other = tmp_path / "unrelated"
    other.mkdir()

    assert remove_dead_workdirs(str(tmp_path)) == [str(left)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "unrelated"])


def test_a_worker_leaving_with_a_stuck_job_removes_its_own_run_folders_only(tmp_path):
    mine = tmp_path / f"{WORKDIR_PREFIX}{os.getpid()}-abc"
    mine.mkdir()
    (mine / "snapshot.sqlite3").write_bytes(b"x")
    theirs = tmp_path / f"{WORKDIR_PREFIX}{os.getppid()}-def"  # a live process's
    theirs.mkdir()

    assert remove_own_workdirs(str(tmp_path)) == [str(mine)]
    assert [p.name for p in tmp_path.iterdir()] == [theirs.name]


@pytest.mark.django_db
def test_a_running_worker_sweeps_dead_processes_run_folders_every_few_minutes(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    class Periods:  # only the run-folder sweep matters here
        STALE_CHECK_EVERY = RETENTION_EVERY = PRUNE_EVERY = MAINTENANCE_EVERY = 1e9

    maintenance = Maintenance(Periods())
    try:
        maintenance.step()  # the first sweep
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        left = tmp_path / f"{WORKDIR_PREFIX}{dead.pid}-abc"
        left.mkdir()
        maintenance.step()
        assert left.exists()  # not due yet
        maintenance._last["workdirs"] -= Maintenance.WORKDIR_SWEEP_EVERY
        maintenance.step()
    finally:
        maintenance.stop()
    assert not left.exists()


def test_a_run_folder_carries_the_pid_of_its_process_and_is_private():
    with Workdir() as path:
        assert path.name.startswith(f"{WORKDIR_PREFIX}{os.getpid()}-")
        assert (path.stat().st_mode & 0o777) == 0o700
    assert not path.exists()
