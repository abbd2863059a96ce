import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clear_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anon():
    return APIClient()


def test_the_first_user_to_register_becomes_superuser_and_the_second_does_not(anon, settings):
    settings.BM_ALLOW_REGISTRATION = True
    first = anon.post(
        "/api/auth/register", {"username": "root", "password": "Very-long-pass-1"}, format="json"
    )
    second = anon.post(
        "/api/auth/register", {"username": "bob", "password": "Very-long-pass-2"}, format="json"
    )
    assert first.status_code == 201, first.content
    assert set(first.json()) == {"id", "username", "email"}
    assert second.status_code == 201
    users = {u.username: u.is_superuser for u in get_user_model().objects.all()}
    assert users == {"root": True, "bob": False}


def test_registration_is_closed_by_default_after_the_first_user(anon, user):
    response = anon.post(
        "/api/auth/register", {"username": "bob", "password": "Very-long-pass-2"}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Registration is closed on this server. Ask an administrator for an account."
    }
    assert not get_user_model().objects.filter(username="bob").exists()


def test_register_rejects_unknown_fields_and_weak_passwords(anon):
    response = anon.post(
        "/api/auth/register", {"username": "bob", "password": "x", "is_superuser": True}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"is_superuser": ["Unknown field."]}
    response = anon.post("/api/auth/register", {"username": "bob", "password": "123"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()
    assert get_user_model().objects.count() == 0


def test_login_returns_a_jwt_pair_that_authenticates_me_and_refreshes(anon, user):
    response = anon.post("/api/auth/login", {"username": "alice", "password": "pw-alice-123!"}, format="json")
    assert response.status_code == 200
    tokens = response.json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json() == {
        "id": user.id,
        "username": "alice",
        "email": "alice@example.com",
        "is_superuser": False,
    }
    refreshed = anon.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200 and "access" in refreshed.json()


def test_wrong_password_is_401_and_repeated_failures_are_throttled(anon, user):
    for _ in range(4):
        response = anon.post("/api/auth/login", {"username": "alice", "password": "wrong"}, format="json")
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid username or password."}
    # The fifth failure locks the (username, address) pair: even the right password is refused.
    assert (
        anon.post("/api/auth/login", {"username": "alice", "password": "x"}, format="json").status_code == 429
    )
    locked = anon.post("/api/auth/login", {"username": "alice", "password": "pw-alice-123!"}, format="json")
    assert locked.status_code == 429
    assert locked.json() == {
        "detail": "Too many failed sign-ins for this account from your address; try again in 15 minutes."
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/me",
        "/api/groups/",
        "/api/databases/",
        "/api/schedules/",
        "/api/backups/",
        "/api/databases/1/destinations/",
    ],
)
def test_anonymous_callers_get_401_on_protected_routes(anon, path):
    assert anon.get(path).status_code == 401


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/health"])
def test_schema_docs_and_health_are_public(anon, path):
    assert anon.get(path).status_code == 200


def test_docs_assets_are_served_locally(anon):
    html = anon.get("/api/docs/").content.decode()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


def test_malformed_json_is_a_400_that_says_so(anon):
    response = anon.post("/api/auth/login", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_the_sign_in_page_is_throttled_like_the_api(client, user):
    for _ in range(4):
        page = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
        assert "do not match an account" in page.content.decode()
    fifth = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert fifth.status_code == 429
    locked = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123!"})
    assert locked.status_code == 429
    assert "Too many failed sign-ins for this account from your address" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Failures on the page count for the API too.
    api = APIClient().post(
        "/api/auth/login", {"username": "alice", "password": "pw-alice-123!"}, format="json"
    )
    assert api.status_code == 429
