"""JWTs: refresh tokens rotate, logout revokes, a password change or deactivation revokes them all."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "pw-alice-123!"


def login(username="alice", password=PASSWORD) -> dict:
    response = APIClient().post(
        "/api/auth/login", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def me(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/auth/me").status_code


def refresh(token: str):
    return APIClient().post("/api/auth/refresh", {"refresh": token}, format="json")


def test_a_refresh_returns_a_new_refresh_token_and_the_used_one_no_longer_works(user):
    pair = login()
    first = refresh(pair["refresh"])
    assert first.status_code == 200
    assert set(first.json()) == {"access", "refresh"} and first.json()["refresh"] != pair["refresh"]
    replay = refresh(pair["refresh"])
    assert replay.status_code == 401
    assert refresh(first.json()["refresh"]).status_code == 200


def test_logout_revokes_the_refresh_token_with_205(user):
    pair = login()
    response = APIClient().post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 205
    assert refresh(pair["refresh"]).status_code == 401
    again = APIClient().post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 400
    assert "refresh" in again.json()


def test_logout_refuses_an_access_token_in_place_of_a_refresh_token(user):
    pair = login()
    response = APIClient().post("/api/auth/logout", {"refresh": pair["access"]}, format="json")
    assert response.status_code == 400


def test_a_password_change_kills_the_access_and_refresh_tokens_issued_before(user):
    stolen = login()
    assert me(stolen["access"]) == 200
    user.set_password("a-new-long-passphrase-7")
    user.save()
    assert me(stolen["access"]) == 401
    assert refresh(stolen["refresh"]).status_code == 401
    fresh = login(password="a-new-long-passphrase-7")
    assert me(fresh["access"]) == 200
    assert refresh(fresh["refresh"]).status_code == 200


def test_deactivating_a_user_kills_their_tokens(user):
    pair = login()
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert me(pair["access"]) == 401
    assert refresh(pair["refresh"]).status_code == 401
    user.is_active = True
    user.save()
    # Reactivating does not bring the old tokens back.
    assert me(pair["access"]) == 401


def test_saving_a_user_without_touching_password_or_activity_keeps_their_tokens(user):
    pair = login()
    user.email = "new@example.com"
    user.save()
    assert me(pair["access"]) == 200
    assert refresh(pair["refresh"]).status_code == 200
