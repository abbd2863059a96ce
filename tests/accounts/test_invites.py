"""Invite links: owners create them; one person joins once, before expiry, even with sign-up closed."""

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import GroupInvite, Membership

pytestmark = pytest.mark.django_db

NEW = {"username": "newcomer", "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"}


def create(api_client, group, role="operator", days=7):
    return api_client.post(
        f"/api/groups/{group.pk}/invites/", {"role": role, "expires_in_days": days}, format="json"
    )


def test_an_owner_creates_an_invite_whose_token_is_shown_once_and_stored_hashed(api_client, group):
    response = create(api_client, group)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "role", "url", "token", "expires_at"}
    assert body["url"].endswith(f"/accounts/invite/{body['token']}/")
    invite = GroupInvite.objects.get()
    assert invite.key_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in str(GroupInvite.objects.values_list())
    listed = api_client.get(f"/api/groups/{group.pk}/invites/").json()["results"]
    assert [i["id"] for i in listed] == [body["id"]] and "token" not in listed[0]


def test_members_below_owner_cannot_invite_and_outsiders_see_nothing(group, other_user, other_client):
    Membership.objects.create(user=other_user, group=group, role="operator")
    assert create(other_client, group).status_code == 403
    outsider = get_user_model().objects.create_user("eve", "", "pw-eve-123456!")
    client = APIClient()
    client.force_authenticate(outsider)
    assert create(client, group).status_code == 404


def test_a_new_person_signs_up_through_the_link_while_registration_is_closed_and_joins_once(
    api_client, group
):
    token = create(api_client, group, role="operator").json()["token"]
    assert (
        APIClient()
        .post("/api/auth/register", {"username": "someone", "password": "a-long-passphrase-9"}, format="json")
        .status_code
        == 403
    )
    page = Client()
    assert page.get(f"/accounts/invite/{token}/").status_code == 200
    response = page.post(f"/accounts/invite/{token}/", NEW)
    assert response.status_code == 302 and response["Location"] == f"/groups/{group.pk}/"
    newcomer = get_user_model().objects.get(username="newcomer")
    assert Membership.objects.get(user=newcomer, group=group).role == "operator"
    assert not newcomer.is_superuser

    # The link is spent: nobody else can use it.
    again = Client().post(f"/accounts/invite/{token}/", dict(NEW, username="second"))
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert not get_user_model().objects.filter(username="second").exists()


def test_a_signed_in_user_joins_with_the_invites_role(api_client, group, other_user):
    token = create(api_client, group, role="viewer").json()["token"]
    client = Client()
    client.force_login(other_user)
    response = client.post(f"/accounts/invite/{token}/")
    assert response.status_code == 302
    assert Membership.objects.get(user=other_user, group=group).role == "viewer"
    api = APIClient()
    api.force_authenticate(other_user)
    assert api.post("/api/auth/invites/accept", {"token": token}, format="json").status_code == 400


def test_the_api_accepts_an_invite_for_the_signed_in_user(api_client, group, other_client, other_user):
    token = create(api_client, group, role="owner").json()["token"]
    response = other_client.post("/api/auth/invites/accept", {"token": token}, format="json")
    assert response.status_code == 201
    assert response.json() == {"group": group.pk, "role": "owner"}


def test_expired_and_revoked_invites_are_refused(api_client, group):
    expired = create(api_client, group).json()
    GroupInvite.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().post(f"/accounts/invite/{expired['token']}/", NEW)
    assert response.status_code == 410 and "expired" in response.content.decode()

    revoked = create(api_client, group).json()
    assert api_client.delete(f"/api/groups/{group.pk}/invites/{revoked['id']}/").status_code == 204
    response = Client().post(f"/accounts/invite/{revoked['token']}/", NEW)
    assert response.status_code == 410 and "revoked" in response.content.decode()
    assert not get_user_model().objects.filter(username="newcomer").exists()
    assert api_client.get(f"/api/groups/{group.pk}/invites/").json()["results"] == []


def test_an_unknown_invite_link_is_404(db):
    assert Client().get("/accounts/invite/not-a-real-token/").status_code == 404


def test_the_invite_expiry_is_bounded(api_client, group):
    assert create(api_client, group, days=0).status_code == 400
    assert create(api_client, group, days=31).status_code == 400
    assert create(api_client, group, role="admin").status_code == 400


def test_owners_create_and_revoke_invites_on_the_group_page(client, user, group):
    client.force_login(user)
    page = client.get(f"/groups/{group.pk}/").content.decode()
    assert "Create invite link" in page
    created = client.post(
        f"/accounts/groups/{group.pk}/invites/", {"invite-role": "viewer", "invite-expires_in_days": 3}
    )
    assert created.status_code == 200
    invite = GroupInvite.objects.get()
    assert "/accounts/invite/" in created.content.decode()
    assert "shown only once" in created.content.decode()
    revoke = client.post(f"/accounts/groups/{group.pk}/invites/{invite.pk}/revoke/")
    assert revoke.status_code == 302
    invite.refresh_from_db()
    assert invite.revoked_at is not None


def test_viewers_do_not_see_the_invite_section(client, group, other_user):
    Membership.objects.create(user=other_user, group=group, role="viewer")
    client.force_login(other_user)
    assert "Create invite link" not in client.get(f"/groups/{group.pk}/").content.decode()
    assert (
        client.post(
            f"/accounts/groups/{group.pk}/invites/", {"invite-role": "owner", "invite-expires_in_days": 3}
        ).status_code
        == 403
    )
