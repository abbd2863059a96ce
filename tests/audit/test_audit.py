"""The audit log (issue 10): every kind of event gives one entry with the right actor and group,
owners see only their groups' entries, nothing can change them, and no secret is ever in one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import Membership
from apps.audit.models import AuditEntry
from apps.backups import lifecycle
from apps.backups.models import Backup, BackupCopy, Restore, Verification

DB_PASSWORD = "db-pw-Zq81xx"
NEW_DB_PASSWORD = "db-pw-Kk27yy"
CHANNEL_SECRET = "hook-secret-Pq55"
S3_SECRET = "s3-secret-Wd90"


def entries(action: str, **filters):
    return list(AuditEntry.objects.filter(action=action, **filters))


def one(action: str, **filters) -> AuditEntry:
    found = entries(action, **filters)
    assert len(found) == 1, [(e.action, e.detail) for e in AuditEntry.objects.all()]
    return found[0]


def assert_no_secret(*secrets: str) -> None:
    dumped = json.dumps(
        list(AuditEntry.objects.values("actor_name", "action", "object_type", "object_id", "detail")),
        default=str,
    )
    for secret in secrets:
        assert secret not in dumped


def test_signing_in_failing_and_signing_out_are_recorded_with_the_address(user):
    client = Client(REMOTE_ADDR="203.0.113.9")
    client.post(reverse("accounts:login"), {"username": "alice", "password": "wrong-Guess-77"})
    failed = one("login.fail")
    assert (failed.actor, failed.actor_name, failed.outcome) == (None, "alice", "failure")
    assert failed.ip == "203.0.113.9" and failed.group_id is None
    client.post(reverse("accounts:login"), {"username": "alice", "password": "pw-alice-123!"})
    login = one("login")
    assert (login.actor, login.outcome, login.ip) == (user, "success", "203.0.113.9")
    client.post(reverse("accounts:logout"))
    assert one("logout").actor == user
    assert_no_secret("wrong-Guess-77", "pw-alice-123!")


def test_an_api_sign_in_is_recorded(user):
    response = APIClient().post(
        "/api/auth/login", {"username": "alice", "password": "pw-alice-123!"}, format="json"
    )
    assert response.status_code == 200
    entry = one("login")
    assert entry.actor == user and entry.detail == {"via": "api"} and entry.ip == "127.0.0.1"
    assert_no_secret("pw-alice-123!")


def test_group_member_database_and_their_edits_are_recorded_without_secrets(
    api_client, user, other_user, group
):
    api_client.patch(f"/api/groups/{group.pk}/", {"description": "ops"}, format="json")
    changed = one("group.update")
    assert changed.detail == {"changed": {"description": ["", "ops"]}} and changed.group_id == group.pk
    api_client.post(
        f"/api/groups/{group.pk}/members/", {"username": "mallory", "role": "viewer"}, format="json"
    )
    member = one("membership.create", actor=user)  # (the fixture's own membership is the system's)
    assert (member.actor, member.group_id, member.detail["role"]) == (user, group.pk, "viewer")
    response = api_client.post(
        "/api/databases/",
        {
            "group_id": group.pk,
            "name": "shop",
            "engine": "postgresql",
            "host": "db.example.com",
            "port": 5432,
            "database_name": "shop",
            "username": "app",
            "password": DB_PASSWORD,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = one("database.create")
    assert (created.actor, created.group_id, created.object_id) == (
        user,
        group.pk,
        str(response.json()["id"]),
    )
    assert created.detail["host"] == "db.example.com" and created.detail["secrets_set"] == ["password"]
    db_id = response.json()["id"]
    api_client.patch(
        f"/api/databases/{db_id}/", {"password": NEW_DB_PASSWORD, "name": "shop2"}, format="json"
    )
    updated = one("database.update")
    assert updated.detail == {"changed": {"name": ["shop", "shop2"]}, "secrets_changed": ["password"]}
    api_client.delete(f"/api/groups/{group.pk}/members/{other_user.pk}/")
    assert one("membership.delete").detail["role"] == "viewer"
    api_client.delete(f"/api/databases/{db_id}/")
    deleted = one("database.delete")
    assert (deleted.actor, deleted.group_id) == (user, group.pk)
    assert_no_secret(DB_PASSWORD, NEW_DB_PASSWORD, "pw-alice-123!", "pw-mallory-123!")


def test_destinations_schedules_channels_and_keys_are_recorded_without_secrets(
    api_client, user, group, make_database
):
    from apps.destinations.models import Destination
    from apps.keys.models import GroupKey
    from apps.notifications.models import NotificationChannel
    from apps.schedules.models import Schedule

    database = make_database()
    Destination.objects.create(
        database=database,
        name="bucket",
        kind="s3",
        bucket="b",
        access_key_id="AKIAEXAMPLE",
        secret_access_key=S3_SECRET,
    )
    Schedule.objects.create(database=database, name="nightly", cron_expression="0 3 * * *")
    NotificationChannel.objects.create(
        group=group, kind="webhook", target="https://hooks.example.com/T/secret-path", secret=CHANNEL_SECRET
    )
    GroupKey.objects.create(
        group=group, name="k", recipient="age1example", identity="AGE-SECRET-KEY-1EXAMPLE"
    )
    for action in ("destination.create", "schedule.create", "notificationchannel.create", "groupkey.create"):
        assert one(action).group_id == group.pk
    assert one("destination.create").detail["secrets_set"] == ["access_key_id", "secret_access_key"]
    assert_no_secret(S3_SECRET, "AKIAEXAMPLE", CHANNEL_SECRET, "secret-path", "AGE-SECRET-KEY-1EXAMPLE")


def test_run_requests_are_recorded_with_the_requester_and_their_ends_with_the_outcome(
    api_client, user, group, make_database, make_destination
):
    database = make_database()
    make_destination(database)
    response = api_client.post("/api/backups/manual", {"database_id": database.pk}, format="json")
    request = one("backup.request")
    assert (request.actor, request.group_id, request.object_id) == (
        user,
        group.pk,
        str(response.json()["id"]),
    )
    # the worker ends it: run_finished gives the outcome from the status
    backup = Backup.objects.get()
    Backup.objects.filter(pk=backup.pk).update(status="in_progress", worker_id="w1")
    backup.refresh_from_db()
    assert lifecycle.finish(backup, "failed", "disk full")
    finished = one("backup.finish")
    assert (finished.outcome, finished.actor, finished.group_id) == ("failure", user, group.pk)
    assert finished.detail["error"] == "disk full"
    # a scheduled backup's creation is no request
    Backup.objects.create(database=database, trigger="scheduled")
    assert len(entries("backup.request")) == 1
    done = Backup.objects.create(database=database, status="completed")
    Verification.objects.create(backup=done, requested_by=user)
    Restore.objects.create(backup=done, target_database=database, requested_by=user)
    assert one("verification.request").actor == user and one("restore.request").group_id == group.pk


def test_downloads_are_recorded_and_another_groups_attempt_is_denied(
    api_client, other_client, user, group, make_database, make_destination
):
    database = make_database()
    destination = make_destination(database)
    backup = Backup.objects.create(database=database, status="completed", file_name="shop.dump")
    location = Path(destination.path) / "shop.dump"
    location.write_bytes(b"dump-bytes")
    BackupCopy.objects.create(
        backup=backup,
        destination=destination,
        destination_name=destination.name,
        location=str(location),
        status=BackupCopy.Status.COMPLETED,
    )
    response = api_client.get(f"/api/backups/{backup.pk}/download")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"dump-bytes"
    entry = one("backup.download")
    assert (entry.actor, entry.group_id, entry.outcome, entry.object_id) == (
        user,
        group.pk,
        "success",
        str(backup.pk),
    )
    assert other_client.get(f"/api/backups/{backup.pk}/download").status_code == 404
    denied = AuditEntry.objects.filter(action="backup.download", outcome="denied").get()
    assert denied.actor_name == "mallory" and denied.group_id == group.pk
    page = Client()
    page.force_login(user)
    assert page.get(reverse("backups:download", args=[backup.pk])).status_code == 200
    assert AuditEntry.objects.filter(action="backup.download", outcome="success").count() == 2


def test_deleting_a_backup_is_recorded(api_client, user, group, make_database):
    backup = Backup.objects.create(database=make_database(), status="failed")
    assert api_client.delete(f"/api/backups/{backup.pk}/").status_code in (200, 202, 204)
    entry = one("backup.delete")
    assert (entry.actor, entry.group_id) == (user, group.pk)


def test_owners_see_their_groups_entries_newest_first_and_no_one_elses(
    api_client, other_client, user, other_user, group, make_group
):
    theirs = make_group(owner=other_user, name="theirs")
    AuditEntry.objects.all().delete()  # the fixtures' own creations
    api_client.patch(f"/api/groups/{group.pk}/", {"description": "one"}, format="json")
    api_client.patch(f"/api/groups/{group.pk}/", {"description": "two"}, format="json")
    other_client.patch(f"/api/groups/{theirs.pk}/", {"description": "x"}, format="json")
    body = api_client.get(f"/api/audit/?group_id={group.pk}").json()
    assert [e["detail"]["changed"]["description"][1] for e in body["results"]] == ["two", "one"]
    first = body["results"][0]
    assert set(first) == {
        "id",
        "at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "group_id",
        "ip",
        "outcome",
        "detail",
    }
    assert (first["actor"], first["group_id"], first["outcome"]) == ("alice", group.pk, "success")
    # another group's owner sees none of them, even asking by id
    assert other_client.get(f"/api/audit/?group_id={group.pk}").json()["results"] == []
    assert {e["group_id"] for e in other_client.get("/api/audit/").json()["results"]} == {theirs.pk}
    # a viewer of the group is no owner
    Membership.objects.create(user=other_user, group=group, role="viewer")
    assert other_client.get(f"/api/audit/?group_id={group.pk}").json()["results"] == []
    assert api_client.get("/api/audit/?group_id=abc").status_code == 400
    root = get_user_model().objects.create_superuser("root", "", "pw-root-123!")
    admin = APIClient()
    admin.force_authenticate(root)
    assert {e["group_id"] for e in admin.get("/api/audit/").json()["results"]} >= {group.pk, theirs.pk}


def test_entries_cannot_be_changed_or_deleted_through_the_api_the_admin_or_the_page(api_client, user, group):
    api_client.patch(f"/api/groups/{group.pk}/", {"description": "one"}, format="json")
    entry = one("group.update")
    assert api_client.post("/api/audit/", {"action": "x"}, format="json").status_code == 405
    assert api_client.patch(f"/api/audit/{entry.pk}/", {"action": "x"}, format="json").status_code == 405
    assert api_client.delete(f"/api/audit/{entry.pk}/").status_code == 405
    root = get_user_model().objects.create_superuser("root", "", "pw-root-123!")
    admin = Client()
    admin.force_login(root)
    assert admin.get(f"/admin/audit/auditentry/{entry.pk}/change/").status_code == 200  # view only
    assert admin.post(f"/admin/audit/auditentry/{entry.pk}/change/", {"action": "x"}).status_code == 403
    assert admin.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin.get("/admin/audit/auditentry/add/").status_code == 403
    entry.refresh_from_db()
    assert entry.action == "group.update"
    page = Client()
    page.force_login(user)
    html = page.get(reverse("audit:list")).content.decode()
    assert f'id="audit-{entry.pk}"' in html and '<form method="post"' not in html.split("<main")[1]


def test_the_audit_page_filters_and_shows_only_owned_groups(user, other_user, group, make_group):
    from apps.audit.recorder import record

    theirs = make_group(owner=other_user, name="theirs")
    AuditEntry.objects.all().delete()  # the fixtures' own creations
    record("database.update", object_type="database", object_id=1, group_id=group.pk, actor=user)
    record("login.fail", object_type="user", group_id=group.pk, actor_name="alice", outcome="failure")
    record("database.update", object_type="database", object_id=2, group_id=theirs.pk, actor=other_user)
    page = Client()
    page.force_login(user)
    html = page.get(reverse("audit:list")).content.decode()
    assert html.count('id="audit-') == 2 and "theirs" not in html
    html = page.get(reverse("audit:list"), {"outcome": "failure"}).content.decode()
    assert html.count('id="audit-') == 1 and "login.fail" in html
    html = page.get(reverse("audit:list"), {"group_id": theirs.pk}).content.decode()
    assert html.count('id="audit-') == 0
    assert page.get(reverse("audit:list"), {"group_id": "x"}).status_code == 200
    nobody = get_user_model().objects.create_user("nobody", "", "pw-nobody-123!")
    page.force_login(nobody)
    assert "you own none" in page.get(reverse("audit:list")).content.decode()


@pytest.mark.parametrize("key", ["password", "secret", "identity", "token"])
def test_record_drops_secret_keys_even_when_a_caller_passes_them(db, key):
    from apps.audit.recorder import record

    entry = record("x", detail={key: "leak-me", "fine": 1})
    assert entry.detail == {"fine": 1}


def test_api_tokens_and_two_factor_devices_are_recorded_without_their_secrets(api_client, user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    response = api_client.post(
        "/api/auth/tokens/", {"name": "ci", "scope": "read", "expires_in_days": 30}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    created = one("apitoken.create")
    assert (created.actor, created.detail["name"], created.detail["scope"]) == (user, "ci", "read")
    assert api_client.delete(f"/api/auth/tokens/{body['id']}/").status_code == 204
    assert one("apitoken.delete").actor == user
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=False)
    device.confirmed = True
    device.save()
    assert one("totpdevice.create").detail["secrets_set"] == ["key"]
    assert one("totpdevice.update").detail["changed"] == {"confirmed": [False, True]}
    assert_no_secret(device.key, body["token"])
