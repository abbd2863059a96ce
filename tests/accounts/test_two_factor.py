"""Two-factor sign-in with django-otp: set-up, sign-in (page, API, admin), recovery codes, requirement."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts import twofactor

pytestmark = pytest.mark.django_db

PASSWORD = "pw-alice-123!"


def code(device) -> str:
    """The current code; clearing last_t lets a test use the same time step twice."""
    device.refresh_from_db()
    device.last_t = -1
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    return twofactor.current_totp(device)


def turn_on(client) -> tuple[TOTPDevice, list[str]]:
    page = client.get("/accounts/two-factor/")
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and 'src="http' not in html  # no outside service
    device = TOTPDevice.objects.get(confirmed=False)
    assert twofactor.secret_text(device) in html
    done = client.post("/accounts/two-factor/", {"action": "confirm", "code": code(device)})
    assert done.status_code == 200
    codes = done.context["codes"]
    return TOTPDevice.objects.get(pk=device.pk), codes


@pytest.fixture
def enabled(client, user):
    client.force_login(user)
    device, codes = turn_on(client)
    client.logout()
    return device, codes


def test_turning_it_on_needs_a_right_code_and_shows_ten_recovery_codes_once(client, user):
    client.force_login(user)
    client.get("/accounts/two-factor/")
    wrong = client.post("/accounts/two-factor/", {"action": "confirm", "code": "000000"})
    assert wrong.status_code == 400 and not twofactor.has_device(user)
    device, codes = turn_on(client)
    assert device.confirmed and len(codes) == 10 and len(set(codes)) == 10
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert not stored & set(codes)  # kept hashed
    assert "Your recovery codes" not in client.get("/accounts/two-factor/").content.decode()


def test_the_sign_in_page_then_asks_for_the_code(client, user, enabled):
    device, _ = enabled
    first = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert first.status_code == 302 and first["Location"] == "/accounts/login/code/"
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # not signed in yet
    wrong = client.post("/accounts/login/code/", {"code": "123456"})
    assert wrong.status_code == 200 and "wrong" in wrong.content.decode()
    right = client.post("/accounts/login/code/", {"code": code(device)})
    assert right.status_code == 302
    assert client.get("/").status_code == 200


def test_a_recovery_code_works_once(client, user, enabled):
    _, codes = enabled
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert client.post("/accounts/login/code/", {"code": codes[0]}).status_code == 302
    assert twofactor.recovery_codes_left(user) == 9
    other = Client()
    other.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    again = other.post("/accounts/login/code/", {"code": codes[0]})
    assert again.status_code == 200 and "_auth_user_id" not in other.session


def test_the_api_login_wants_the_code_as_otp(user, enabled):
    device, codes = enabled
    api = APIClient()
    body = {"username": "alice", "password": PASSWORD}
    missing = api.post("/api/auth/login", body, format="json")
    assert missing.status_code == 401 and missing.json()["otp_required"] is True
    wrong = api.post("/api/auth/login", {**body, "otp": "000000"}, format="json")
    assert wrong.status_code == 401 and wrong.json()["otp_required"] is True
    ok = api.post("/api/auth/login", {**body, "otp": code(device)}, format="json")
    assert ok.status_code == 200 and set(ok.json()) == {"access", "refresh"}
    assert api.post("/api/auth/login", {**body, "otp": codes[1]}, format="json").status_code == 200


def test_the_admin_asks_for_the_code_of_an_account_that_has_one(db):
    root = get_user_model().objects.create_superuser("root", "", "root-long-passphrase-1")
    client = Client()
    client.force_login(root)
    device, _ = turn_on(client)
    client.logout()
    form = {"username": "root", "password": "root-long-passphrase-1", "next": "/admin/"}
    without = client.post("/admin/login/?next=/admin/", form)
    assert without.status_code == 200 and "two-factor" in without.content.decode()
    assert client.get("/admin/").status_code == 302
    with_code = client.post("/admin/login/?next=/admin/", {**form, "otp_token": code(device)})
    assert with_code.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_an_older_session_of_the_account_is_signed_out_when_it_turns_two_factor_on(user):
    old, new = Client(), Client()
    old.force_login(user)
    new.force_login(user)
    turn_on(new)
    assert new.get("/").status_code == 200
    assert old.get("/").status_code == 302  # back to sign-in


def test_when_required_users_without_it_are_sent_to_set_it_up(client, user, settings):
    settings.BM_REQUIRE_2FA = True
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").url == "/accounts/two-factor/"
    api = APIClient().post("/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    assert api.status_code == 403
    turn_on(client)
    assert client.get("/").status_code == 200
    off = client.post("/accounts/two-factor/", {"action": "disable", "code": "x"})
    assert off.status_code == 302 and twofactor.has_device(user)


def test_turning_it_off_needs_a_current_code(client, user, enabled):
    device, _ = enabled
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    client.post("/accounts/login/code/", {"code": code(device)})
    client.post("/accounts/two-factor/", {"action": "disable", "code": "000000"})
    assert twofactor.has_device(user)
    client.post("/accounts/two-factor/", {"action": "disable", "code": code(device)})
    assert not twofactor.has_device(user)
