"""The admin deletes backups through the delete service: files go with the record, busy backups stay."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from apps.backups import runner
from apps.backups.models import Backup, Restore


@pytest.fixture
def backup(sqlite_database, make_destination, make_backup):
    make_destination(sqlite_database)
    backup = runner.run_backup(make_backup(sqlite_database))
    assert backup.status == "completed"
    return backup


def test_deleting_a_backup_in_the_admin_removes_its_files_too(admin_client, backup):
    location = Path(backup.copies.get().location)
    assert location.exists()
    response = admin_client.post(reverse("admin:backups_backup_delete", args=[backup.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Backup.objects.filter(pk=backup.pk).exists()
    assert not location.exists()


def test_the_admin_bulk_action_deletes_files_and_django_bulk_delete_is_gone(admin_client, backup):
    location = Path(backup.copies.get().location)
    changelist = reverse("admin:backups_backup_changelist")
    assert "delete_selected" not in admin_client.get(changelist).content.decode()
    response = admin_client.post(
        changelist, {"action": "delete_with_files", "_selected_action": [backup.pk]}, follow=True
    )
    assert "Deleted 1 backup(s) and their files." in response.content.decode()
    assert not Backup.objects.exists() and not location.exists()


def test_the_admin_refuses_to_delete_a_backup_a_restore_is_reading(admin_client, backup, sqlite_database):
    Restore.objects.create(backup=backup, target_database=sqlite_database, status="in_progress")
    response = admin_client.post(
        reverse("admin:backups_backup_delete", args=[backup.pk]), {"post": "yes"}, follow=True
    )
    assert "is being restored" in response.content.decode()
    assert "deleted successfully" not in response.content.decode()
    assert Backup.objects.filter(pk=backup.pk).exists()
    assert Path(backup.copies.get().location).exists()
