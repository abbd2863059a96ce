"""The key admin: the secret key is write-only, blank keeps it, and it must belong to the recipient."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.common import age
from apps.keys import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123!")
    client.force_login(superuser)
    return client


def form_data(key, **changes):
    return {"group": key.group_id, "name": key.name, "recipient": key.recipient, "identity": "", **changes}


def test_the_change_page_never_shows_the_secret_key_and_blank_keeps_it(admin_client, group):
    made = services.create_key(group, "offsite", keep_identity=True)
    url = reverse("admin:keys_groupkey_change", args=[made.key.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert made.identity not in page.content.decode()
    assert admin_client.get(reverse("admin:keys_groupkey_changelist")).status_code == 200

    response = admin_client.post(url, form_data(made.key, name="renamed"))
    assert response.status_code == 302
    made.key.refresh_from_db()
    assert made.key.name == "renamed" and made.key.identity == made.identity


def test_a_secret_key_of_another_recipient_is_refused(admin_client, group):
    key = services.create_key(group, "offsite").key
    other_identity, _ = age.generate_identity()
    url = reverse("admin:keys_groupkey_change", args=[key.pk])
    response = admin_client.post(url, form_data(key, identity=other_identity))
    assert response.status_code == 200
    assert "This secret key does not belong to the recipient." in response.content.decode()
    key.refresh_from_db()
    assert key.identity == ""


def test_the_admin_can_add_the_secret_key_of_an_imported_recipient_and_forget_it(admin_client, group):
    identity, recipient = age.generate_identity()
    key = services.create_key(group, "laptop", recipient=recipient).key
    url = reverse("admin:keys_groupkey_change", args=[key.pk])
    assert admin_client.post(url, form_data(key, identity=identity)).status_code == 302
    key.refresh_from_db()
    assert key.identity == identity
    assert admin_client.post(url, form_data(key, clear_identity="on")).status_code == 302
    key.refresh_from_db()
    assert key.identity == ""


def test_a_bad_recipient_is_refused_in_the_admin(admin_client, group):
    key = services.create_key(group, "offsite").key
    url = reverse("admin:keys_groupkey_change", args=[key.pk])
    response = admin_client.post(url, form_data(key, recipient="age1broken"))
    assert response.status_code == 200
    assert "Not a valid age recipient" in response.content.decode()


def test_a_key_in_use_cannot_move_to_another_group(admin_client, group, make_group, make_database, user):
    key = services.create_key(group, "offsite").key
    make_database(encryption_key=key)
    other = make_group(owner=user)
    url = reverse("admin:keys_groupkey_change", args=[key.pk])
    response = admin_client.post(url, form_data(key, group=other.pk))
    assert response.status_code == 200
    assert "Databases of another group use this key: it cannot move." in response.content.decode()
    key.refresh_from_db()
    assert key.group == group
