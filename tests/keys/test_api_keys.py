"""/api/groups/{id}/keys/: owners generate, import and delete; members list; secrets appear once."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts.models import Membership
from apps.common import age
from apps.keys.models import GroupKey


def url(group, kid=None):
    return f"/api/groups/{group.pk}/keys/" + (f"{kid}/" if kid else "")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def raw_identity(key: GroupKey) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT identity FROM keys_groupkey WHERE id = %s", [key.pk])
        return cur.fetchone()[0]


def test_an_owner_generates_a_key_and_sees_its_secret_key_once(api_client, group, tmp_path):
    response = api_client.post(url(group), {"name": "offsite"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"id", "name", "recipient", "identity", "has_identity", "created_at"}
    assert body["name"] == "offsite" and body["has_identity"] is False
    assert body["identity"].startswith("AGE-SECRET-KEY-1")
    assert age.recipient_of(body["identity"]) == body["recipient"]
    key = GroupKey.objects.get()
    assert key.group == group and key.recipient == body["recipient"] and key.identity == ""
    # Never again: neither in the list nor in the detail.
    listed = api_client.get(url(group)).json()
    assert listed["count"] == 1
    assert listed["results"][0] == {
        "id": key.pk,
        "name": "offsite",
        "recipient": body["recipient"],
        "has_identity": False,
        "created_at": body["created_at"],
    }
    assert "identity" not in api_client.get(url(group, key.pk)).json()
    # The pair works with the real age CLI.
    key_file = tmp_path / "key.txt"
    key_file.write_text(body["identity"] + "\n")
    encrypted = subprocess.run(
        [shutil.which("age") or "age", "-r", body["recipient"]], input=b"hi", capture_output=True, check=True
    ).stdout
    assert age.decrypt_bytes(encrypted, [key_file.read_text()]) == b"hi"


def test_keep_identity_stores_the_secret_key_encrypted_at_rest(api_client, group):
    response = api_client.post(url(group), {"name": "in-app", "keep_identity": True}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    key = GroupKey.objects.get()
    assert body["has_identity"] is True and key.identity == body["identity"]
    stored = raw_identity(key)
    assert stored.startswith("fernet:") and body["identity"] not in stored
    assert "identity" not in api_client.get(url(group, key.pk)).json()


def test_an_owner_imports_a_public_recipient_only(api_client, group):
    _, recipient = age.generate_identity()
    response = api_client.post(url(group), {"name": "laptop", "recipient": f" {recipient}\n"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["recipient"] == recipient and body["identity"] is None and body["has_identity"] is False
    assert GroupKey.objects.get().identity == ""


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({"name": "x", "recipient": "age1nope"}, "recipient", "Not a valid age recipient"),
        ({"name": "x", "recipient": "ssh-ed25519 AAAA"}, "recipient", "starts with age1"),
        ({"name": "x", "recipient": "AGE-SECRET-KEY-1QQ"}, "recipient", "This is a secret key"),
        ({"name": "   "}, "name", "This field may not be blank."),
        ({"name": "x", "keep_identity": True, "recipient": "__R__"}, "keep_identity", "no secret key"),
        ({"name": "x", "identity": "AGE-SECRET-KEY-1QQ"}, "identity", "Unknown field."),
        ({}, "name", "This field is required."),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_stored(
    api_client, group, payload, field, message
):
    _, recipient = age.generate_identity()
    payload = {k: (recipient if v == "__R__" else v) for k, v in payload.items()}
    response = api_client.post(url(group), payload, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not GroupKey.objects.exists()


def test_names_are_unique_per_group_whatever_the_case(api_client, group, make_group, user):
    assert api_client.post(url(group), {"name": "Offsite"}, format="json").status_code == 201
    response = api_client.post(url(group), {"name": "offsite"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["This group already has a key named “offsite”."]}
    other = make_group(owner=user)
    assert api_client.post(url(other), {"name": "offsite"}, format="json").status_code == 201


@pytest.mark.parametrize("role", [Membership.Role.OPERATOR, Membership.Role.VIEWER])
def test_operators_and_viewers_list_but_cannot_add_or_delete(make_group, other_user, role):
    group = make_group(owner=other_user, role=role)
    _, recipient = age.generate_identity()
    key = GroupKey.objects.create(group=group, name="k", recipient=recipient)
    client = client_for(other_user)

    assert [k["name"] for k in client.get(url(group)).json()["results"]] == ["k"]
    response = client.post(url(group), {"name": "mine"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only the group's owners can add or delete encryption keys."}
    assert client.delete(url(group, key.pk)).status_code == 403
    assert GroupKey.objects.count() == 1


def test_keys_of_other_groups_are_404(other_client, group):
    _, recipient = age.generate_identity()
    key = GroupKey.objects.create(group=group, name="k", recipient=recipient)
    assert other_client.get(url(group)).status_code == 404
    assert other_client.post(url(group), {"name": "x"}, format="json").status_code == 404
    assert other_client.delete(url(group, key.pk)).status_code == 404
    assert GroupKey.objects.count() == 1


def test_an_owner_deletes_an_unused_key(api_client, group):
    _, recipient = age.generate_identity()
    key = GroupKey.objects.create(group=group, name="k", recipient=recipient)
    assert api_client.delete(url(group, key.pk)).status_code == 204
    assert not GroupKey.objects.exists()


def test_deleting_a_key_a_database_uses_is_a_409_naming_it(api_client, group, make_database):
    _, recipient = age.generate_identity()
    key = GroupKey.objects.create(group=group, name="offsite", recipient=recipient)
    make_database(name="shop", encryption_key=key)

    response = api_client.delete(url(group, key.pk))

    assert response.status_code == 409
    assert response.json() == {
        "detail": "The key “offsite” encrypts the backups of “shop”: "
        "choose another key (or none) for them before deleting it."
    }
    assert GroupKey.objects.filter(pk=key.pk).exists()


def test_deleting_a_group_deletes_its_keys_and_databases(api_client, group, make_database):
    _, recipient = age.generate_identity()
    key = GroupKey.objects.create(group=group, name="offsite", recipient=recipient)
    make_database(encryption_key=key)
    group.delete()
    assert not GroupKey.objects.exists()


def test_the_schema_documents_the_keys_endpoints(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/groups/{group_id}/keys/" in paths
    assert set(paths["/api/groups/{group_id}/keys/{id}/"]) >= {"get", "delete"}
