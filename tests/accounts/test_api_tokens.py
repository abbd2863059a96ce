"""Personal API tokens: shown once, stored hashed, scoped (never above the user's role), revocable."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken, Membership

pytestmark = pytest.mark.django_db


def make_token(api_client, scope="read", days=30, name="ci"):
    response = api_client.post(
        "/api/auth/tokens/", {"name": name, "scope": scope, "expires_in_days": days}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def with_token(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


def test_a_token_is_shown_once_stored_as_a_hash_and_listed_without_its_secret(api_client, user):
    body = make_token(api_client)
    assert set(body) == {"id", "name", "scope", "expires_at", "token"}
    assert body["token"].startswith("bm_") and len(body["token"]) > 40
    stored = ApiToken.objects.get()
    assert stored.key_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in str(ApiToken.objects.values_list())
    listed = api_client.get("/api/auth/tokens/").json()["results"]
    assert listed[0]["id"] == body["id"] and "token" not in listed[0]
    assert listed[0]["last_used_at"] is None


def test_a_token_authenticates_and_records_its_last_use(api_client, user):
    raw = make_token(api_client)["token"]
    me = with_token(raw).get("/api/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert ApiToken.objects.get().last_used_at is not None


def test_a_read_token_may_only_read(api_client, group):
    client = with_token(make_token(api_client, "read")["token"])
    assert client.get(f"/api/groups/{group.pk}/").json()["role"] == "viewer"
    response = client.patch(f"/api/groups/{group.pk}/", {"description": "x"}, format="json")
    assert response.status_code == 403
    assert "read scope" in response.json()["detail"]


def test_an_operate_token_of_an_owner_acts_as_an_operator(api_client, group):
    client = with_token(make_token(api_client, "operate")["token"])
    assert client.get(f"/api/groups/{group.pk}/").json()["role"] == "operator"
    assert client.patch(f"/api/groups/{group.pk}/", {"description": "x"}, format="json").status_code == 403
    manage = with_token(make_token(api_client, "manage", name="admin")["token"])
    assert manage.patch(f"/api/groups/{group.pk}/", {"description": "x"}, format="json").status_code == 200


def test_a_manage_token_never_lifts_a_viewer_above_viewer(group, other_user, other_client):
    Membership.objects.create(user=other_user, group=group, role="viewer")
    client = with_token(make_token(other_client, "manage")["token"])
    assert client.get(f"/api/groups/{group.pk}/").json()["role"] == "viewer"
    assert client.patch(f"/api/groups/{group.pk}/", {"description": "x"}, format="json").status_code == 403


def test_expired_revoked_and_unknown_tokens_are_refused(api_client, user):
    expired = make_token(api_client)
    ApiToken.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert with_token(expired["token"]).get("/api/auth/me").status_code == 401
    revoked = make_token(api_client, name="other")
    assert api_client.delete(f"/api/auth/tokens/{revoked['id']}/").status_code == 204
    assert with_token(revoked["token"]).get("/api/auth/me").status_code == 401
    assert with_token("bm_not-a-token").get("/api/auth/me").status_code == 401
    assert api_client.delete(f"/api/auth/tokens/{revoked['id']}/").status_code == 404


def test_a_token_cannot_create_tokens_nor_delete_another_users_token(api_client, other_client):
    raw = make_token(api_client, "manage")["token"]
    response = with_token(raw).post(
        "/api/auth/tokens/", {"name": "x", "scope": "manage", "expires_in_days": 1}, format="json"
    )
    assert response.status_code == 403
    mine = make_token(api_client, name="mine")
    assert other_client.delete(f"/api/auth/tokens/{mine['id']}/").status_code == 404


def test_a_password_change_or_deactivation_deletes_the_users_tokens(api_client, user):
    raw = make_token(api_client)["token"]
    user.set_password("a-new-long-passphrase-7")
    user.save()
    assert with_token(raw).get("/api/auth/me").status_code == 401
    assert not ApiToken.objects.exists()


def test_bad_token_requests_are_400(api_client):
    for body in (
        {"name": "", "scope": "read", "expires_in_days": 3},
        {"name": "x", "scope": "root", "expires_in_days": 3},
        {"name": "x", "scope": "read", "expires_in_days": 0},
        {"name": "x", "scope": "read", "expires_in_days": 400},
    ):
        assert api_client.post("/api/auth/tokens/", body, format="json").status_code == 400


def test_the_tokens_page_creates_shows_once_and_revokes(client, user):
    client.force_login(user)
    page = client.post("/accounts/tokens/", {"name": "nightly", "scope": "operate", "expires_in_days": 30})
    assert page.status_code == 200
    token = ApiToken.objects.get()
    html = page.content.decode()
    assert "shown only once" in html and f'value="{token.prefix}' in html
    listing = client.get("/accounts/tokens/").content.decode()
    assert "nightly" in listing and "shown only once" not in listing
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 302
    assert not ApiToken.objects.exists()


def test_last_use_is_written_at_most_once_a_minute(api_client, user):
    raw = make_token(api_client)["token"]
    with_token(raw).get("/api/auth/me")
    first = ApiToken.objects.get().last_used_at
    with_token(raw).get("/api/auth/me")
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - timedelta(minutes=2))
    with_token(raw).get("/api/auth/me")
    assert ApiToken.objects.get().last_used_at > first
