"""`manage.py backup` and `manage.py restore` in the foreground."""

from __future__ import annotations

import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.backups.models import Backup, Restore
from tests.backups.conftest import file_sha256, table_digest


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_backup_runs_now_and_prints_the_result(sqlite_database, make_destination):
    dest = make_destination(sqlite_database)

    output = run("backup", str(sqlite_database.pk))

    backup = Backup.objects.get()
    assert backup.status == Backup.Status.COMPLETED
    assert f"Backup #{backup.pk} of Orders DB (sqlite) started" in output
    assert f"Backup #{backup.pk} completed: {backup.file_name}" in output
    assert backup.checksum_sha256 in output
    assert file_sha256(os.path.join(dest.path, backup.file_name)) == backup.checksum_sha256


def test_backup_exits_non_zero_on_failure(sqlite_database, make_destination):
    make_destination(sqlite_database)
    os.unlink(sqlite_database.database_name)

    with pytest.raises(CommandError, match=r"Backup #\d+ failed: sqlite: file .* does not exist") as info:
        run("backup", str(sqlite_database.pk))
    assert info.value.returncode == 1


def test_backup_exits_2_when_partial(sqlite_database, make_destination):
    make_destination(sqlite_database)
    broken = make_destination(sqlite_database)
    os.rmdir(broken.path)
    open(broken.path, "w").close()

    with pytest.raises(CommandError, match="partial") as info:
        run("backup", str(sqlite_database.pk))
    assert info.value.returncode == 2


def test_backup_of_an_unknown_database(db):
    with pytest.raises(CommandError, match="Database 424242 does not exist"):
        run("backup", "424242")


@pytest.fixture
def backup(sqlite_database, make_destination):
    make_destination(sqlite_database)
    run("backup", str(sqlite_database.pk))
    return Backup.objects.get()


def test_restore_needs_yes(backup, make_database, tmp_path):
    target = make_database(database_name=str(tmp_path / "target.sqlite3"))

    with pytest.raises(CommandError, match="Run again with --yes to confirm"):
        run("restore", str(backup.pk), "--target", str(target.pk))
    assert Restore.objects.count() == 0
    assert not os.path.exists(target.database_name)


def test_restore_runs_now(backup, make_database, tmp_path, sqlite_database):
    target = make_database(database_name=str(tmp_path / "target.sqlite3"))

    output = run("restore", str(backup.pk), "--target", str(target.pk), "--yes")

    restore = Restore.objects.get()
    assert restore.status == Restore.Status.COMPLETED
    assert f"Restore #{restore.pk} completed" in output
    assert table_digest(target.database_name) == table_digest(sqlite_database.database_name)


def test_restore_exits_non_zero_when_the_tool_fails(backup, make_database, tmp_path):
    target = make_database(database_name=str(tmp_path / "missing-folder" / "t.sqlite3"))

    with pytest.raises(CommandError, match=r"Restore #\d+ failed: sqlite: folder .* does not exist"):
        run("restore", str(backup.pk), "--target", str(target.pk), "--yes")
    assert Restore.objects.get().status == Restore.Status.FAILED


def test_restore_refuses_another_engine(backup, make_database):
    target = make_database(engine="postgresql", database_name="app")
    with pytest.raises(CommandError, match="is a sqlite dump; database .* uses postgresql"):
        run("restore", str(backup.pk), "--target", str(target.pk), "--yes")


def test_backup_command_owns_its_run_so_no_worker_can_claim_it(sqlite_database, make_destination):
    from apps.schedules import worker

    make_destination(sqlite_database)
    run("backup", str(sqlite_database.pk))
    backup = Backup.objects.get()
    assert backup.worker_id.startswith("cli:")
    # Never pending: the worker's queue of manual backups had nothing to take.
    assert worker.claim_backup(backup.pk, sqlite_database.pk, "worker-x") is False


def test_backup_command_refuses_while_a_backup_of_the_database_runs(sqlite_database, make_destination):
    make_destination(sqlite_database)
    Backup.objects.create(database=sqlite_database, status=Backup.Status.IN_PROGRESS)
    with pytest.raises(CommandError, match="A backup or restore of Orders DB is running"):
        run("backup", str(sqlite_database.pk))
    assert Backup.objects.count() == 1


def test_restore_command_refuses_while_the_target_is_being_backed_up(backup, make_database, tmp_path):
    target = make_database(database_name=str(tmp_path / "target.sqlite3"))
    Backup.objects.create(database=target, status=Backup.Status.IN_PROGRESS)
    with pytest.raises(CommandError, match="A backup or restore of .* is running"):
        run("restore", str(backup.pk), "--target", str(target.pk), "--yes")
    assert Restore.objects.count() == 0
    assert not os.path.exists(target.database_name)
