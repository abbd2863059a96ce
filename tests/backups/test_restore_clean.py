"""A clean restore asked through the API and recorded on the Restore run; the copies a restore tried."""

from __future__ import annotations

import os

import pytest

from apps.backups import runner
from apps.backups.models import Restore
from apps.backups.restore import run_restore
from apps.engines.sqlite import SQLiteEngine
from tests.backups.conftest import make_sqlite_file, table_digest
from tests.backups.test_runner import flip_byte

pytestmark = pytest.mark.django_db


@pytest.fixture
def backup(sqlite_database, make_destination, make_backup):
    make_destination(sqlite_database, name="first")
    make_destination(sqlite_database, name="second")
    backup = runner.run_backup(make_backup(sqlite_database))
    assert backup.status == "completed", backup.error
    return backup


@pytest.fixture
def target(make_database, tmp_path):
    return make_database(
        name="target", database_name=str(make_sqlite_file(tmp_path / "target.sqlite3", rows=3))
    )


def post(api_client, backup, target, **body):
    return api_client.post(
        f"/api/backups/{backup.pk}/restore",
        {"target_database_id": target.pk, "confirm": target.database_name, **body},
        format="json",
    )


def test_clean_is_asked_in_the_body_and_shown_on_the_restore(api_client, backup, target):
    response = post(api_client, backup, target, clean=True)

    assert response.status_code == 202
    assert response.data["clean"] is True and response.data["attempts"] == []
    restore = Restore.objects.get(pk=response.data["id"])
    assert restore.clean_restore is True
    assert api_client.get(f"/api/restores/{restore.pk}").data["clean"] is True


def test_a_restore_is_not_clean_unless_asked(api_client, backup, target):
    response = post(api_client, backup, target)
    assert response.status_code == 202 and response.data["clean"] is False


def test_clean_must_be_a_boolean(api_client, backup, target):
    response = post(api_client, backup, target, clean="maybe")
    assert response.status_code == 400 and "clean" in response.data
    assert not Restore.objects.exists()


def test_an_engine_without_a_clean_restore_refuses_the_request(api_client, backup, target, monkeypatch):
    monkeypatch.setattr(SQLiteEngine, "clean_scope", None)
    response = post(api_client, backup, target, clean=True)
    assert response.status_code == 400
    assert response.data == {"clean": ["SQLite has no clean restore."]}
    assert not Restore.objects.exists()


def test_the_schema_documents_clean_and_the_copies_tried(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    request = schema["components"]["schemas"]["RestoreRequestRequest"]["properties"]
    assert (
        request["clean"]["type"] == "boolean"
        and "nothing that is not in the backup" in request["clean"]["description"]
    )
    restore = schema["components"]["schemas"]["Restore"]["properties"]
    assert {"clean", "create_target", "attempts"} <= set(restore)


def test_a_clean_restore_runs_and_every_copy_tried_is_recorded(backup, target):
    first, second = backup.copies.order_by("id")
    flip_byte(first.location, offset=-10)

    restore = run_restore(Restore.objects.create(backup=backup, target_database=target, clean_restore=True))

    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert table_digest(target.database_name) == table_digest(backup.database.database_name)
    assert [a["copy_id"] for a in restore.attempts] == [first.pk, second.pk]
    assert (
        restore.attempts[0]["destination_name"] == "first" and "is corrupt" in restore.attempts[0]["result"]
    )
    assert restore.attempts[1] == {
        "copy_id": second.pk,
        "destination_name": "second",
        "location": second.location,
        "result": "",
        "messages": f"{os.path.getsize(target.database_name)} bytes checked (PRAGMA integrity_check: ok) and swapped in",
    }


def test_a_clean_restore_an_engine_cannot_do_fails_before_touching_the_target(backup, target, monkeypatch):
    monkeypatch.setattr(SQLiteEngine, "clean_scope", None)
    before = table_digest(target.database_name)

    restore = run_restore(Restore.objects.create(backup=backup, target_database=target, clean_restore=True))

    assert restore.status == Restore.Status.FAILED
    assert restore.error == "sqlite has no clean restore"
    assert table_digest(target.database_name) == before


def test_manage_py_restore_takes_clean_and_says_what_it_drops(backup, target):
    from io import StringIO

    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="tables that are not in the backup are gone.*--yes"):
        call_command("restore", str(backup.pk), "--target", str(target.pk), "--clean", stdout=StringIO())
    assert not Restore.objects.exists()

    call_command("restore", str(backup.pk), "--target", str(target.pk), "--clean", "--yes", stdout=StringIO())
    restore = Restore.objects.get()
    assert restore.clean_restore is True and restore.status == Restore.Status.COMPLETED


def test_manage_py_restore_refuses_clean_for_an_engine_without_it(backup, target, monkeypatch):
    from io import StringIO

    from django.core.management import CommandError, call_command

    monkeypatch.setattr(SQLiteEngine, "clean_scope", None)
    with pytest.raises(CommandError, match="SQLite has no clean restore"):
        call_command(
            "restore", str(backup.pk), "--target", str(target.pk), "--clean", "--yes", stdout=StringIO()
        )
    assert not Restore.objects.exists()


def test_the_audit_log_says_a_restore_was_clean(api_client, backup, target):
    from apps.audit.models import AuditEntry

    post(api_client, backup, target, clean=True)

    entry = AuditEntry.objects.get(action="restore.request")
    assert entry.detail["clean_restore"] is True and entry.detail["create_target"] is False
