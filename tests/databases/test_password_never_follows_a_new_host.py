"""A stored database password is never sent to a new place (host, port, user or engine changed).

The attacker's listener is real: a socket on 127.0.0.1 that speaks just enough of the PostgreSQL
protocol to ask for a clear-text password, and records every byte it receives.
"""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.databases.models import Database

pytestmark = pytest.mark.django_db

STORED = "stored-Secret-4242"
REENTER = "enter the password again"


class PasswordTrap:
    """A fake PostgreSQL server: refuses SSL, asks for a clear-text password, records what arrives."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with client:
                client.settimeout(2)
                try:
                    self._talk(client)
                except OSError:
                    pass

    def _read(self, client, n):
        data = b""
        while len(data) < n:
            chunk = client.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        self.received += data
        return data

    def _talk(self, client):
        while True:
            length, code = struct.unpack("!ii", self._read(client, 8))
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                client.sendall(b"N")
                continue
            self._read(client, length - 8)  # the startup message
            client.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            kind = self._read(client, 5)
            self._read(client, struct.unpack("!i", kind[1:])[0] - 4)  # the password message
            return

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def trap():
    trap = PasswordTrap()
    yield trap
    trap.close()


@pytest.fixture
def saved(group):
    """A PostgreSQL database with a stored password, at an address nobody listens on."""
    return Database.objects.create(
        group=group,
        name="shop",
        engine="postgresql",
        host="127.0.0.1",
        port=1,
        database_name="shop",
        username="shop",
        password=STORED,
    )


def form_body(database, **overrides):
    body = {
        "group": database.group_id,
        "name": database.name,
        "engine": database.engine,
        "host": database.host,
        "port": database.port,
        "database_name": database.database_name,
        "username": database.username,
        "password": "",
        "compression": "zstd",
        "timeout_seconds": "",
    }
    return {**body, **overrides}


def test_the_trap_does_receive_a_password_that_is_typed(client, user, saved, trap):
    """The listener works: a password typed with the new port reaches it (the owner chose it)."""
    client.force_login(user)
    url = reverse("databases:test-connection-edit", args=[saved.pk])
    response = client.post(url, form_body(saved, port=trap.port, password="typed-now-77"))
    assert response.status_code == 200
    assert b"typed-now-77" in bytes(trap.received)


def test_the_forms_test_button_never_sends_the_stored_password_to_a_new_port(client, user, saved, trap):
    client.force_login(user)
    url = reverse("databases:test-connection-edit", args=[saved.pk])
    response = client.post(url, form_body(saved, port=trap.port))
    html = response.content.decode()
    assert "Cannot test yet" in html and REENTER in html and "port changed" in html
    assert trap.connections == 0 and STORED.encode() not in bytes(trap.received)


@pytest.mark.parametrize(
    "change",
    [{"host": "localhost"}, {"username": "root"}, {"engine": "mysql"}],
    ids=["host", "user", "engine"],
)
def test_saving_the_form_with_a_new_target_and_no_password_is_refused(client, user, saved, change):
    client.force_login(user)
    response = client.post(reverse("databases:update", args=[saved.pk]), form_body(saved, **change))
    assert response.status_code == 200 and REENTER in response.content.decode()
    saved.refresh_from_db()
    assert (saved.host, saved.username, saved.engine) == ("127.0.0.1", "shop", "postgresql")


def test_the_form_keeps_the_stored_password_when_the_target_is_unchanged(client, user, saved):
    client.force_login(user)
    response = client.post(reverse("databases:update", args=[saved.pk]), form_body(saved, name="shop2"))
    assert response.status_code == 302
    saved.refresh_from_db()
    assert saved.name == "shop2" and saved.password == STORED


def test_the_form_saves_a_new_target_with_a_new_password(client, user, saved):
    client.force_login(user)
    body = form_body(saved, host="db.internal", password="new-one")
    assert client.post(reverse("databases:update", args=[saved.pk]), body).status_code == 302
    saved.refresh_from_db()
    assert (saved.host, saved.password) == ("db.internal", "new-one")


def test_the_api_refuses_a_new_port_without_the_password_and_the_test_never_sends_it(api_client, saved, trap):
    response = api_client.patch(f"/api/databases/{saved.pk}", {"port": trap.port}, format="json")
    assert response.status_code == 400
    assert REENTER in response.json()["password"][0]
    saved.refresh_from_db()
    assert saved.port == 1
    put = {
        "group_id": saved.group_id,
        "name": "shop",
        "engine": "postgresql",
        "host": "127.0.0.1",
        "port": trap.port,
        "database_name": "shop",
        "username": "shop",
    }
    assert api_client.put(f"/api/databases/{saved.pk}", put, format="json").status_code == 400
    assert api_client.post(f"/api/databases/{saved.pk}/test").json()["ok"] is False  # still port 1
    assert trap.connections == 0 and STORED.encode() not in bytes(trap.received)
    ok = api_client.patch(f"/api/databases/{saved.pk}", {"port": trap.port, "password": "x2"}, format="json")
    assert ok.status_code == 200
    saved.refresh_from_db()
    assert (saved.port, saved.password) == (trap.port, "x2")


def test_the_admin_refuses_a_new_host_without_the_password(admin_client, saved):
    body = {**form_body(saved, host="evil.example"), "options": "{}", "encryption_key": ""}
    page = admin_client.post(reverse("admin:databases_database_change", args=[saved.pk]), body)
    assert page.status_code == 200 and REENTER in page.content.decode()
    saved.refresh_from_db()
    assert saved.host == "127.0.0.1" and saved.password == STORED


def test_the_admin_keeps_the_stored_password_when_left_blank(admin_client, saved):
    body = {**form_body(saved, name="renamed"), "options": "{}", "encryption_key": ""}
    page = admin_client.post(reverse("admin:databases_database_change", args=[saved.pk]), body)
    assert page.status_code == 302
    saved.refresh_from_db()
    assert saved.name == "renamed" and saved.password == STORED


def test_an_operator_cannot_test_connections(client, other_user, saved, trap):
    Membership.objects.create(user=other_user, group=saved.group, role=Membership.Role.OPERATOR)
    client.force_login(other_user)
    url = reverse("databases:test-connection-edit", args=[saved.pk])
    assert client.post(url, form_body(saved, port=trap.port)).status_code == 403
    assert trap.connections == 0
