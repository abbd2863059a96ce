"""Failed sign-ins lock one (username, address) pair in every door: admin, API and sign-in page."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.throttling import client_ip

pytestmark = pytest.mark.django_db

ADMIN_PASSWORD = "root-long-passphrase-1"
LOCKED = "Too many failed sign-ins for this account from your address; try again in 15 minutes."


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", ADMIN_PASSWORD)


def admin_login(address: str, password: str, **headers):
    client = Client(REMOTE_ADDR=address, **headers)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": password, "next": "/admin/"}
    )
    return client, response


def test_thirty_wrong_admin_passwords_lock_the_admin_for_that_username_and_address(root):
    statuses = [admin_login("203.0.113.5", f"guess-{i}")[1].status_code for i in range(30)]
    assert statuses[:4] == [200] * 4  # the form says the password is wrong
    assert set(statuses[4:]) == {429}
    client, locked = admin_login("203.0.113.5", ADMIN_PASSWORD)
    assert locked.status_code == 429
    assert LOCKED in locked.content.decode()
    assert "_auth_user_id" not in client.session

    # The attacker's address is locked, not the account: the owner signs in from elsewhere.
    client, ok = admin_login("198.51.100.7", ADMIN_PASSWORD)
    assert ok.status_code == 302 and ok["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_an_admin_lockout_also_locks_the_api_login_and_the_sign_in_page_from_that_address(root):
    for i in range(5):
        admin_login("203.0.113.5", f"guess-{i}")
    api = APIClient(REMOTE_ADDR="203.0.113.5").post(
        "/api/auth/login", {"username": "root", "password": ADMIN_PASSWORD}, format="json"
    )
    assert api.status_code == 429 and api.json() == {"detail": LOCKED}
    page = Client(REMOTE_ADDR="203.0.113.5").post(
        "/accounts/login/", {"username": "root", "password": ADMIN_PASSWORD}
    )
    assert page.status_code == 429 and LOCKED in page.content.decode()
    other = APIClient(REMOTE_ADDR="198.51.100.7").post(
        "/api/auth/login", {"username": "root", "password": ADMIN_PASSWORD}, format="json"
    )
    assert other.status_code == 200


def test_a_forged_x_forwarded_for_does_not_change_the_address_without_a_trusted_proxy(root, settings):
    settings.BM_TRUSTED_PROXIES = []
    for i in range(5):
        admin_login("203.0.113.5", f"guess-{i}", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}")
    _, locked = admin_login("203.0.113.5", ADMIN_PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.99")
    assert locked.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_the_one_locked(root, settings):
    settings.BM_TRUSTED_PROXIES = ["127.0.0.1"]
    for i in range(5):
        admin_login("127.0.0.1", f"guess-{i}", HTTP_X_FORWARDED_FOR="203.0.113.5")
    _, locked = admin_login("127.0.0.1", ADMIN_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert locked.status_code == 429
    _, other = admin_login("127.0.0.1", ADMIN_PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert other.status_code == 302


class _Request:
    def __init__(self, remote, forwarded=None):
        self.META = {"REMOTE_ADDR": remote}
        if forwarded is not None:
            self.META["HTTP_X_FORWARDED_FOR"] = forwarded


def test_client_ip_takes_the_right_most_untrusted_hop_behind_trusted_proxies(settings):
    settings.BM_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(_Request("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.0.0.3")) == "203.0.113.5"
    assert client_ip(_Request("198.51.100.1", "1.2.3.4")) == "198.51.100.1"  # not from a proxy
    assert client_ip(_Request("10.0.0.2", "not-an-ip")) == "10.0.0.2"
    settings.BM_TRUSTED_PROXIES = []
    assert client_ip(_Request("10.0.0.2", "1.2.3.4")) == "10.0.0.2"


def test_the_lock_lives_in_the_database_so_every_process_sees_it(root):
    for i in range(5):
        admin_login("203.0.113.5", f"guess-{i}")
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == ("root", "203.0.113.5", 5)
    cache.clear()  # a per-process cache would forget; the database does not
    assert admin_login("203.0.113.5", ADMIN_PASSWORD)[1].status_code == 429
