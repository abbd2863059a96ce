"""Verify, delete, download and request services on real backups of real SQLite files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from apps.accounts.models import Membership
from apps.backups import lifecycle, runner, services
from apps.backups.models import Backup, BackupCopy, Restore
from apps.backups.verification import check_copy, verify_now
from tests.backups.conftest import file_sha256


@pytest.fixture
def backup(sqlite_database, make_destination, make_backup):
    make_destination(sqlite_database, name="first")
    make_destination(sqlite_database, name="second")
    backup = runner.run_backup(make_backup(sqlite_database))
    assert backup.status == Backup.Status.COMPLETED
    return backup


def verify(backup):
    return verify_now(backup).results


def copies(backup):
    return list(backup.copies.order_by("id"))


def test_verify_reports_ok_for_intact_copies_and_stores_it(backup):
    results = verify(backup)

    assert [(r["status"], r["message"]) for r in results] == [("ok", "Size and sha256 match")] * 2
    for copy in copies(backup):
        assert copy.verify_status == BackupCopy.Check.OK and copy.verified_at is not None


def test_verify_says_missing_and_corrupt(backup):
    first, second = copies(backup)
    os.unlink(first.location)
    data = bytearray(Path(second.location).read_bytes())
    data[-1] ^= 1
    Path(second.location).write_bytes(bytes(data))

    results = verify(backup)

    assert results == [
        {
            "destination_id": first.destination_id,
            "destination_name": "first",
            "status": "missing",
            "message": f"File {first.location} is missing",
        },
        {
            "destination_id": second.destination_id,
            "destination_name": "second",
            "status": "corrupt",
            "message": f"Copy at {second.location} is corrupt: sha256 differs",
        },
    ]
    first.refresh_from_db()
    assert first.verify_status == "missing"


def test_verify_says_unreachable_when_the_folder_is_gone(backup):
    first, _ = copies(backup)
    folder = Path(first.location).parent
    os.unlink(first.location)
    for leftover in folder.iterdir():  # the manifest beside the copy
        leftover.unlink()
    folder.rmdir()
    folder.write_text("now a file")

    status = verify(backup)[0]

    assert status["status"] == "unreachable"
    assert "not reachable" in status["message"]


def test_verify_refuses_a_running_backup(sqlite_database, make_backup, user):
    running = make_backup(sqlite_database, status=Backup.Status.IN_PROGRESS)
    with pytest.raises(services.BackupBusy):
        services.request_verification(running, user)


def test_delete_with_files_removes_every_file_and_the_record(backup):
    locations = [c.location for c in copies(backup)]

    result = services.delete_backup(backup, delete_files=True)

    assert result.deleted
    assert [r["status"] for r in result.results] == ["deleted", "deleted"]
    assert not any(os.path.exists(p) for p in locations)
    assert not Backup.objects.filter(pk=backup.pk).exists()


def test_delete_without_files_keeps_them(backup):
    locations = [c.location for c in copies(backup)]

    result = services.delete_backup(backup, delete_files=False)

    assert result.deleted
    assert all(os.path.exists(p) for p in locations)


def test_a_copy_whose_file_cannot_be_deleted_stays_on_record(backup):
    first, second = copies(backup)
    folder = Path(second.location).parent
    os.unlink(second.location)
    for leftover in folder.iterdir():  # the manifest beside the copy
        leftover.unlink()
    folder.rmdir()
    folder.write_text("now a file")  # deleting inside it fails: Not a directory

    result = services.delete_backup(backup, delete_files=True)

    assert not result.deleted
    assert [r["status"] for r in result.results] == ["deleted", "failed"]
    assert (
        "Not a directory" in result.results[1]["message"] or "not reachable" in result.results[1]["message"]
    )
    assert not os.path.exists(first.location)
    assert Backup.objects.filter(pk=backup.pk).exists()
    remaining = list(backup.copies.all())
    assert [c.pk for c in remaining] == [second.pk]
    assert remaining[0].error.startswith("Delete failed:")


def test_cleanup_partials_removes_leftovers_of_a_crashed_run(sqlite_database, make_destination, make_backup):
    dest = make_destination(sqlite_database)
    crashed = make_backup(sqlite_database, status=Backup.Status.IN_PROGRESS)
    location = os.path.join(dest.path, "x_1.sqlite3.zst")
    BackupCopy.objects.create(backup=crashed, destination=dest, destination_name=dest.name, location=location)
    Path(location + ".partial").write_bytes(b"half")

    assert lifecycle.cleanup_partials(crashed) == [location + ".partial"]
    assert os.listdir(dest.path) == []
    assert lifecycle.cleanup_partials(crashed) == []


def test_download_opens_the_named_copy_or_the_first_present(backup):
    first, second = copies(backup)

    copy, fh, size = services.open_copy_for_download(backup, second.destination_id)
    with fh:
        assert copy.pk == second.pk and size == backup.size_bytes

    os.unlink(first.location)
    copy, fh, size = services.open_copy_for_download(backup)
    with fh:
        assert copy.pk == second.pk
        assert fh.read() == Path(second.location).read_bytes()


def test_download_says_why_nothing_can_be_read(backup):
    for copy in copies(backup):
        os.unlink(copy.location)
    with pytest.raises(services.NotAvailable, match="No copy can be read: File .* is missing"):
        services.open_copy_for_download(backup)
    with pytest.raises(services.NotAvailable, match="has no saved copy at destination 999"):
        services.open_copy_for_download(backup, 999)


def test_a_copy_whose_destination_was_removed_is_still_found(backup):
    first, _ = copies(backup)
    first.destination.delete()
    first.refresh_from_db()
    assert first.destination is None

    assert check_copy(first, backup).ok
    result = services.delete_backup(backup, delete_files=True)
    assert result.deleted and not os.path.exists(first.location)


def test_request_manual_backup_needs_an_operator(sqlite_database, make_destination, user, other_user):
    make_destination(sqlite_database)
    backup = services.request_manual_backup(sqlite_database, user)
    assert (backup.status, backup.trigger, backup.requested_by) == ("pending", "manual", user)

    Membership.objects.create(user=other_user, group=sqlite_database.group, role=Membership.Role.VIEWER)
    with pytest.raises(PermissionDenied):
        services.request_manual_backup(sqlite_database, other_user)


def test_request_restore_checks_engine_role_and_confirmation(
    backup, make_database, make_group, user, tmp_path
):
    target = make_database(database_name=str(tmp_path / "t.sqlite3"))
    pg = make_database(engine="postgresql", database_name="app")
    foreign = make_database(group=make_group(), database_name=str(tmp_path / "f.sqlite3"))

    def error_of(**kwargs):
        args = {"target_database": target, "user": user, "confirm": target.database_name}
        args.update(kwargs)
        with pytest.raises(ValidationError) as info:
            services.request_restore(backup, **args)
        return info.value.message_dict

    assert error_of(target_database=pg) == {
        "target_database_id": [
            "The target uses postgresql but the backup is of a sqlite database; choose a sqlite database."
        ]
    }
    assert error_of(target_database=foreign) == {
        "target_database_id": [f"Database {foreign.pk} does not exist."]
    }
    assert error_of(confirm="nope") == {
        "confirm": ["Type the target's database name exactly to confirm that its data will be replaced."]
    }
    assert Restore.objects.count() == 0

    restore = services.request_restore(backup, target, user, target.database_name)
    assert (restore.status, restore.backup_id, restore.target_database_id) == (
        "pending",
        backup.pk,
        target.pk,
    )


def test_files_written_are_identical_to_what_verify_reads(backup):
    assert {file_sha256(c.location) for c in copies(backup)} == {backup.checksum_sha256}


def test_copies_stay_reachable_after_their_destination_path_is_edited(backup, backup_root):
    first, _ = copies(backup)
    new_folder = backup_root / "moved"
    new_folder.mkdir()
    first.destination.path = str(new_folder)
    first.destination.save()

    assert [r["status"] for r in verify(backup)] == ["ok", "ok"]
