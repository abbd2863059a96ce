"""Encryption keys on the group page: members see them; owners generate (secret shown once), import, delete."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Membership
from apps.common import age
from apps.keys import services
from apps.keys.models import GroupKey

pytestmark = pytest.mark.django_db


def client_for(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def group_page(group) -> str:
    return reverse("groups:detail", args=[group.pk])


def test_members_see_the_keys_and_only_owners_get_the_forms(
    group, user, make_group, other_user, make_database
):
    key = services.create_key(group, "offsite").key
    make_database(name="shop", encryption_key=key)
    Membership.objects.create(user=other_user, group=group, role=Membership.Role.VIEWER)

    viewer_html = client_for(other_user).get(group_page(group)).content.decode()
    assert 'id="keys"' in viewer_html and key.recipient in viewer_html and "shop" in viewer_html
    assert "Generate key" not in viewer_html and reverse("keys:delete", args=[key.pk]) not in viewer_html

    owner_html = client_for(user).get(group_page(group)).content.decode()
    assert "Generate key" in owner_html and "Import key" in owner_html
    ids = re.findall(r'\sid="([^"]+)"', owner_html)
    assert len(ids) == len(set(ids)), "duplicate ids on the group page"
    assert reverse("keys:delete", args=[key.pk]) in owner_html


def test_generating_shows_the_secret_key_once_with_a_store_it_now_message(group, user):
    client = client_for(user)
    response = client.post(reverse("keys:generate", args=[group.pk]), {"genkey-name": "offsite"})

    assert response.status_code == 200
    html = response.content.decode()
    key = GroupKey.objects.get()
    identity = next(line for line in html.splitlines() if line.startswith("AGE-SECRET-KEY-1")).split("<")[0]
    assert age.recipient_of(identity) == key.recipient
    assert "Store this secret key now." in html and "not kept anywhere else" in html
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert key.identity == ""
    assert identity not in client.get(group_page(group)).content.decode()


def test_keep_identity_on_the_page_keeps_it_encrypted(group, user):
    response = client_for(user).post(
        reverse("keys:generate", args=[group.pk]), {"genkey-name": "in-app", "genkey-keep_identity": "on"}
    )
    key = GroupKey.objects.get()
    assert key.has_identity and key.identity in response.content.decode()
    assert "a copy is also kept here" in response.content.decode()


def test_importing_a_recipient_redirects_to_the_keys_section(group, user):
    _, recipient = age.generate_identity()
    response = client_for(user).post(
        reverse("keys:import", args=[group.pk]),
        {"impkey-name": "laptop", "impkey-recipient": recipient},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == group_page(group) + "#keys"
    assert "Key “laptop” imported" in response.content.decode()
    assert GroupKey.objects.get().recipient == recipient


def test_a_bad_recipient_or_a_taken_name_comes_back_as_a_form_error(group, user):
    client = client_for(user)
    response = client.post(
        reverse("keys:import", args=[group.pk]), {"impkey-name": "x", "impkey-recipient": "age1oops"}
    )
    assert response.status_code == 400
    assert "Not a valid age recipient" in response.content.decode()
    services.create_key(group, "offsite")
    response = client.post(reverse("keys:generate", args=[group.pk]), {"genkey-name": "OFFSITE"})
    assert response.status_code == 400
    assert "This group already has a key named “OFFSITE”." in response.content.decode()
    assert GroupKey.objects.count() == 1


@pytest.mark.parametrize("role", [Membership.Role.OPERATOR, Membership.Role.VIEWER])
def test_members_below_owner_cannot_generate_import_or_delete(group, other_user, role):
    Membership.objects.create(user=other_user, group=group, role=role)
    key = services.create_key(group, "offsite").key
    client = client_for(other_user)
    assert client.post(reverse("keys:generate", args=[group.pk]), {"genkey-name": "x"}).status_code == 403
    assert (
        client.post(
            reverse("keys:import", args=[group.pk]), {"impkey-name": "x", "impkey-recipient": key.recipient}
        ).status_code
        == 403
    )
    assert client.post(reverse("keys:delete", args=[key.pk])).status_code == 403
    assert list(GroupKey.objects.values_list("name", flat=True)) == ["offsite"]


def test_outsiders_get_404(group, other_user):
    key = services.create_key(group, "offsite").key
    client = client_for(other_user)
    assert client.post(reverse("keys:generate", args=[group.pk]), {"genkey-name": "x"}).status_code == 404
    assert client.get(reverse("keys:delete", args=[key.pk])).status_code == 404


def test_a_post_without_the_csrf_token_is_refused(group, user):
    response = client_for(user, csrf=True).post(
        reverse("keys:generate", args=[group.pk]), {"genkey-name": "x"}
    )
    assert response.status_code == 403
    assert not GroupKey.objects.exists()


def test_an_owner_deletes_an_unused_key_after_confirming(group, user):
    key = services.create_key(group, "offsite", keep_identity=True).key
    client = client_for(user)
    confirm = client.get(reverse("keys:delete", args=[key.pk])).content.decode()
    assert "the secret key kept here is deleted with it" in confirm
    response = client.post(reverse("keys:delete", args=[key.pk]), follow=True)
    assert "Key “offsite” deleted." in response.content.decode()
    assert not GroupKey.objects.exists()


def test_a_key_in_use_is_not_deleted_and_the_page_says_why(group, user, make_database):
    key = services.create_key(group, "offsite").key
    make_database(name="shop", encryption_key=key)
    client = client_for(user)
    assert (
        "choose another key (or none) for them first"
        in client.get(reverse("keys:delete", args=[key.pk])).content.decode()
    )
    response = client.post(reverse("keys:delete", args=[key.pk]), follow=True)
    assert "The key “offsite” encrypts the backups of “shop”" in response.content.decode()
    assert GroupKey.objects.filter(pk=key.pk).exists()
