"""The /api/backups/ and /api/restores/ endpoints, on real backups of SQLite files."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import Membership
from apps.backups import runner
from apps.backups.models import Backup, BackupCopy, Restore, Verification
from apps.schedules import worker

SECRET = "S3cret-Passw0rd-Never-Shown"


@pytest.fixture
def backup(sqlite_database, make_destination, make_backup):
    make_destination(sqlite_database, name="first")
    make_destination(sqlite_database, name="second")
    backup = runner.run_backup(make_backup(sqlite_database))
    assert backup.status == Backup.Status.COMPLETED
    return backup


@pytest.fixture
def viewer_client(other_user, group) -> APIClient:
    Membership.objects.create(user=other_user, group=group, role=Membership.Role.VIEWER)
    client = APIClient()
    client.force_authenticate(other_user)
    return client


@pytest.fixture
def operator_client(other_user, group) -> APIClient:
    Membership.objects.create(user=other_user, group=group, role=Membership.Role.OPERATOR)
    client = APIClient()
    client.force_authenticate(other_user)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# -- list and detail -----------------------------------------------------------------


def test_list_is_paginated_newest_first_and_filters(
    api_client, backup, sqlite_database, make_backup, make_database
):
    newer = make_backup(sqlite_database, status=Backup.Status.FAILED)
    other_db = make_database()
    make_backup(other_db)

    response = api_client.get("/api/backups/", {"database_id": sqlite_database.pk})
    assert response.status_code == 200
    assert response.data["count"] == 2
    assert [b["id"] for b in response.data["results"]] == [newer.pk, backup.pk]

    response = api_client.get("/api/backups", {"status": "completed"})
    assert [b["id"] for b in response.data["results"]] == [backup.pk]


@pytest.mark.parametrize(
    "params,field,message",
    [
        (
            {"status": "done"},
            "status",
            "must be one of pending, in_progress, completed, partial, failed, not 'done'",
        ),
        ({"database_id": "x"}, "database_id", "must be a positive integer id, not 'x'"),
    ],
)
def test_list_rejects_bad_filters(api_client, params, field, message):
    response = api_client.get("/api/backups/", params)
    assert response.status_code == 400
    assert response.data == {field: [message]}


def test_detail_has_destination_results(api_client, backup):
    response = api_client.get(f"/api/backups/{backup.pk}")
    assert response.status_code == 200
    data = response.data
    assert set(data) >= {
        "id",
        "database_id",
        "schedule_id",
        "trigger",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "size_bytes",
        "bytes_done",
        "checksum_sha256",
        "file_name",
        "error",
        "destination_results",
    }
    assert data["checksum_sha256"] == backup.checksum_sha256
    results = data["destination_results"]
    assert [r["destination_name"] for r in results] == ["first", "second"]
    assert all(r["status"] == "completed" and r["size_bytes"] == backup.size_bytes for r in results)
    assert set(results[0]) >= {
        "destination_id",
        "destination_name",
        "status",
        "location",
        "size_bytes",
        "error",
        "verified_at",
    }


def test_backups_of_other_groups_are_404(other_client, backup):
    assert other_client.get(f"/api/backups/{backup.pk}").status_code == 404
    assert other_client.get(f"/api/backups/{backup.pk}/verify").status_code == 404
    assert other_client.get(f"/api/backups/{backup.pk}/download").status_code == 404
    assert other_client.delete(f"/api/backups/{backup.pk}").status_code == 404
    assert other_client.post(f"/api/backups/{backup.pk}/restore", {}, format="json").status_code == 404
    assert other_client.get("/api/backups/").data["count"] == 0
    assert Backup.objects.filter(pk=backup.pk).exists()


def test_unauthenticated_requests_are_refused(backup):
    assert APIClient().get("/api/backups/").status_code in (401, 403)


# -- manual ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/backups/manual", "/api/backups/manual/"])
def test_manual_queues_a_pending_backup(api_client, sqlite_database, make_destination, path):
    make_destination(sqlite_database)
    response = api_client.post(path, {"database_id": sqlite_database.pk}, format="json")
    assert response.status_code == 202
    assert response.data["status"] == "pending"
    assert response.data["trigger"] == "manual"
    assert response.data["destination_results"] == []
    assert Backup.objects.get(pk=response.data["id"]).requested_by.username == "alice"


def test_manual_refuses_a_database_without_an_enabled_destination_like_the_page(
    api_client, sqlite_database, make_destination
):
    make_destination(sqlite_database, enabled=False)
    response = api_client.post("/api/backups/manual", {"database_id": sqlite_database.pk}, format="json")
    assert response.status_code == 400
    assert response.data == {
        "database_id": ["This database has no enabled destination: add or enable one, then run the backup."]
    }
    assert Backup.objects.count() == 0


@pytest.mark.parametrize(
    "payload,expected",
    [
        ({}, {"database_id": ["This field is required."]}),
        ({"database_id": "abc"}, {"database_id": ["A valid integer is required."]}),
        ({"database_id": 999999}, {"database_id": ["Database 999999 does not exist."]}),
        ({"database_id": 1, "extra": 1}, {"extra": ["Unknown field."]}),
    ],
)
def test_manual_rejects_bad_input_and_writes_nothing(api_client, sqlite_database, payload, expected):
    response = api_client.post("/api/backups/manual", payload, format="json")
    assert response.status_code == 400
    assert response.data == expected
    assert Backup.objects.count() == 0


def test_manual_for_a_database_of_another_group_is_400_and_writes_nothing(other_client, sqlite_database):
    response = other_client.post("/api/backups/manual", {"database_id": sqlite_database.pk}, format="json")
    assert response.status_code == 400
    assert response.data == {"database_id": [f"Database {sqlite_database.pk} does not exist."]}
    assert Backup.objects.count() == 0


def test_viewers_may_read_but_not_operate(viewer_client, backup, sqlite_database, tmp_path, make_database):
    assert viewer_client.get(f"/api/backups/{backup.pk}").status_code == 200
    assert (
        viewer_client.post(
            "/api/backups/manual", {"database_id": sqlite_database.pk}, format="json"
        ).status_code
        == 403
    )
    assert viewer_client.get(f"/api/backups/{backup.pk}/verify").status_code == 403
    assert viewer_client.get(f"/api/backups/{backup.pk}/download").status_code == 403
    target = make_database(database_name=str(tmp_path / "t.sqlite3"))
    response = viewer_client.post(
        f"/api/backups/{backup.pk}/restore",
        {"target_database_id": target.pk, "confirm": target.database_name},
        format="json",
    )
    assert response.status_code == 403
    assert viewer_client.delete(f"/api/backups/{backup.pk}").status_code == 403
    assert Backup.objects.count() == 1 and Restore.objects.count() == 0


def test_operators_may_operate_but_not_delete(operator_client, backup, sqlite_database):
    assert (
        operator_client.post(
            "/api/backups/manual", {"database_id": sqlite_database.pk}, format="json"
        ).status_code
        == 202
    )
    assert operator_client.post(f"/api/backups/{backup.pk}/verify").status_code == 202
    assert operator_client.get(f"/api/backups/{backup.pk}/download").status_code == 200
    assert operator_client.delete(f"/api/backups/{backup.pk}").status_code == 403


# -- verify ------------------------------------------------------------------------------


def test_verify_is_queued_then_run_by_the_worker_and_reported_by_get(api_client, backup):
    first, second = backup.copies.order_by("id")
    os.unlink(first.location)
    assert api_client.get(f"/api/backups/{backup.pk}/verify").status_code == 404

    response = api_client.post(f"/api/backups/{backup.pk}/verify/")
    assert response.status_code == 202
    assert (response.data["backup_id"], response.data["status"], response.data["ok"]) == (
        backup.pk,
        "pending",
        None,
    )
    # Nothing was read inside the request: the copies are as they were.
    assert [c.verify_status for c in backup.copies.order_by("id")] == ["", ""]
    again = api_client.post(f"/api/backups/{backup.pk}/verify")
    assert again.data["id"] == response.data["id"]  # one queued verification, not two

    [claimed] = worker.claim_due(timezone.now(), "w", limit=1)
    assert (claimed.kind, claimed.pk) == ("verification", response.data["id"])
    worker.run_job(claimed.kind, claimed.pk)

    response = api_client.get(f"/api/backups/{backup.pk}/verify/")
    assert response.status_code == 200
    assert (response.data["status"], response.data["ok"]) == ("completed", False)
    assert response.data["checked_at"]
    assert [(r["destination_id"], r["status"]) for r in response.data["results"]] == [
        (first.destination_id, "missing"),
        (second.destination_id, "ok"),
    ]
    detail = api_client.get(f"/api/backups/{backup.pk}").data["destination_results"]
    assert [r["verify_status"] for r in detail] == ["missing", "ok"]
    assert all(r["verified_at"] for r in detail)


def test_verify_of_a_running_backup_is_409_and_queues_nothing(api_client, sqlite_database, make_backup):
    running = make_backup(sqlite_database, status=Backup.Status.IN_PROGRESS)
    response = api_client.post(f"/api/backups/{running.pk}/verify")
    assert response.status_code == 409
    assert response.data == {
        "detail": f"Backup #{running.pk} is in_progress; it can be verified once it has finished"
    }
    assert not Verification.objects.exists()


# -- download -----------------------------------------------------------------------------


def test_download_streams_the_file(api_client, backup):
    first = backup.copies.order_by("id").first()
    expected = Path(first.location).read_bytes()

    response = api_client.get(f"/api/backups/{backup.pk}/download")

    assert response.status_code == 200
    assert response["Content-Length"] == str(len(expected))
    assert response["Content-Disposition"] == f'attachment; filename="{backup.file_name}"'
    assert response["Accept-Ranges"] == "bytes"
    data = body(response)
    assert data == expected
    assert hashlib.sha256(data).hexdigest() == backup.checksum_sha256


def test_download_of_a_named_destination_and_a_range(api_client, backup):
    second = backup.copies.order_by("id").last()
    expected = Path(second.location).read_bytes()

    response = api_client.get(
        f"/api/backups/{backup.pk}/download",
        {"destination_id": second.destination_id},
        HTTP_RANGE="bytes=10-99",
    )
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 10-99/{len(expected)}"
    assert response["Content-Length"] == "90"
    assert body(response) == expected[10:100]

    response = api_client.get(f"/api/backups/{backup.pk}/download", HTTP_RANGE="bytes=-16")
    assert response.status_code == 206
    assert body(response) == expected[-16:]

    response = api_client.get(f"/api/backups/{backup.pk}/download", HTTP_RANGE=f"bytes={len(expected)}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(expected)}"


def test_download_falls_back_to_a_present_copy_and_says_when_none_is(api_client, backup):
    first, second = backup.copies.order_by("id")
    os.unlink(first.location)
    response = api_client.get(f"/api/backups/{backup.pk}/download")
    assert response.status_code == 200
    assert body(response) == Path(second.location).read_bytes()

    os.unlink(second.location)
    response = api_client.get(f"/api/backups/{backup.pk}/download")
    assert response.status_code == 404
    assert response.data["detail"].startswith("No copy can be read: File ")

    response = api_client.get(f"/api/backups/{backup.pk}/download", {"destination_id": "x"})
    assert response.status_code == 400
    assert response.data == {"destination_id": ["must be a positive integer id, not 'x'"]}


# -- delete ----------------------------------------------------------------------------------


def test_delete_with_files_removes_them(api_client, backup):
    locations = list(backup.copies.values_list("location", flat=True))

    response = api_client.delete(f"/api/backups/{backup.pk}?delete_files=true")

    assert response.status_code == 204
    assert not Backup.objects.filter(pk=backup.pk).exists()
    assert not any(os.path.exists(p) for p in locations)


def test_delete_without_files_keeps_them(api_client, backup):
    locations = list(backup.copies.values_list("location", flat=True))
    assert api_client.delete(f"/api/backups/{backup.pk}/?delete_files=false").status_code == 204
    assert all(os.path.exists(p) for p in locations)


def test_delete_that_fails_somewhere_answers_per_destination(api_client, backup):
    first, second = backup.copies.order_by("id")
    folder = Path(second.location).parent
    os.unlink(second.location)
    for leftover in folder.iterdir():  # the manifest beside the copy
        leftover.unlink()
    folder.rmdir()
    folder.write_text("now a file")

    response = api_client.delete(f"/api/backups/{backup.pk}?delete_files=true")

    assert response.status_code == 409
    assert response.data["deleted"] is False
    assert [r["status"] for r in response.data["results"]] == ["deleted", "failed"]
    assert list(Backup.objects.get(pk=backup.pk).copies.values_list("pk", flat=True)) == [second.pk]


def test_delete_rejects_a_bad_flag_and_deletes_nothing(api_client, backup):
    response = api_client.delete(f"/api/backups/{backup.pk}?delete_files=maybe")
    assert response.status_code == 400
    assert response.data in (
        {"delete_files": ["must be true or false, not 'maybe'"]},
        {"delete_files": "must be true or false, not 'maybe'"},
    )
    assert Backup.objects.filter(pk=backup.pk).exists()
    assert all(os.path.exists(c.location) for c in backup.copies.all())


# -- restore ---------------------------------------------------------------------------------


@pytest.fixture
def target(make_database, tmp_path):
    return make_database(name="target", database_name=str(tmp_path / "target.sqlite3"))


def test_restore_queues_a_pending_restore(api_client, backup, target):
    response = api_client.post(
        f"/api/backups/{backup.pk}/restore/",
        {"target_database_id": target.pk, "confirm": target.database_name},
        format="json",
    )
    assert response.status_code == 202
    assert response.data["status"] == "pending"
    assert response.data["backup_id"] == backup.pk and response.data["target_database_id"] == target.pk

    detail = api_client.get(f"/api/restores/{response.data['id']}")
    assert detail.status_code == 200 and detail.data["status"] == "pending"
    assert api_client.get(f"/api/restores/{response.data['id']}/").status_code == 200


def test_restores_of_other_groups_are_404(api_client, other_client, backup, target):
    restore = Restore.objects.create(backup=backup, target_database=target)
    assert other_client.get(f"/api/restores/{restore.pk}").status_code == 404


def test_restore_rejects_bad_input_and_writes_nothing(
    api_client, backup, target, make_database, make_group, tmp_path
):
    pg = make_database(engine="postgresql", database_name="app")
    foreign = make_database(group=make_group(), database_name=str(tmp_path / "f.sqlite3"))
    url = f"/api/backups/{backup.pk}/restore"
    cases = [
        ({}, {"target_database_id": ["This field is required."], "confirm": ["This field is required."]}),
        (
            {"target_database_id": target.pk, "confirm": "wrong"},
            {
                "confirm": [
                    "Type the target's database name exactly to confirm that its data will be replaced."
                ]
            },
        ),
        (
            {"target_database_id": 999999, "confirm": "x"},
            {"target_database_id": ["Database 999999 does not exist."]},
        ),
        (
            {"target_database_id": foreign.pk, "confirm": foreign.database_name},
            {"target_database_id": [f"Database {foreign.pk} does not exist."]},
        ),
        (
            {"target_database_id": pg.pk, "confirm": "app"},
            {
                "target_database_id": [
                    "The target uses postgresql but the backup is of a sqlite database; choose a sqlite database."
                ]
            },
        ),
        (
            {"target_database_id": target.pk, "confirm": target.database_name, "force": True},
            {"force": ["Unknown field."]},
        ),
    ]
    for payload, expected in cases:
        response = api_client.post(url, payload, format="json")
        assert response.status_code == 400, payload
        assert response.data == expected
    assert Restore.objects.count() == 0
    assert not os.path.exists(target.database_name)


def test_restore_of_a_failed_backup_is_400(api_client, sqlite_database, make_backup, target):
    failed = make_backup(sqlite_database, status=Backup.Status.FAILED)
    response = api_client.post(
        f"/api/backups/{failed.pk}/restore",
        {"target_database_id": target.pk, "confirm": target.database_name},
        format="json",
    )
    assert response.status_code == 400
    assert response.data == {
        "backup_id": [f"Backup #{failed.pk} is failed; only completed or partial backups can be restored."]
    }


# -- secrets -------------------------------------------------------------------------------


def test_the_password_is_in_no_response_or_log(
    api_client, make_database, make_destination, make_backup, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    db = make_database(
        engine="postgresql", host="127.0.0.1", port=1, username="u", password=SECRET, database_name="app"
    )
    make_destination(db)
    backup = runner.run_backup(make_backup(db))  # fails: nothing listens on port 1
    assert backup.status == Backup.Status.FAILED
    responses = [
        api_client.get("/api/backups/"),
        api_client.get(f"/api/backups/{backup.pk}"),
        api_client.post("/api/backups/manual", {"database_id": db.pk}, format="json"),
    ]
    for response in responses:
        assert SECRET not in response.content.decode()
    assert SECRET not in backup.error
    assert SECRET not in caplog.text
    assert not BackupCopy.objects.filter(backup=backup, status="completed").exists()


def test_deleting_a_backup_a_restore_is_reading_is_409_and_keeps_it(api_client, backup, sqlite_database):
    restore = Restore.objects.create(backup=backup, target_database=sqlite_database, status="pending")
    response = api_client.delete(f"/api/backups/{backup.pk}?delete_files=true")
    assert response.status_code == 409
    assert response.data == {
        "detail": f"Backup #{backup.pk} is being restored (restore #{restore.pk}); "
        "delete it once that has finished"
    }
    assert Backup.objects.filter(pk=backup.pk).exists()
    assert all(Path(c.location).exists() for c in backup.copies.all())
