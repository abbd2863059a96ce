"""A database's encryption key: one of its own group's keys, checked once (Database.clean) for API, page and admin."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Membership
from apps.common import age
from apps.databases.admin import DatabaseAdminForm
from apps.databases.forms import DatabaseForm
from apps.databases.models import KEY_OF_ANOTHER_GROUP, Database
from apps.keys import services
from apps.keys.models import GroupKey


def make_key(group, name="offsite", *, keep=False) -> GroupKey:
    return services.create_key(group, name, keep_identity=keep).key


def db_url(database=None):
    return "/api/databases/" + (f"{database.pk}/" if database else "")


def sqlite_body(group, tmp_path, **extra):
    path = tmp_path / "shop.sqlite3"
    path.touch()
    return {"group_id": group.pk, "name": "shop", "engine": "sqlite", "database_name": str(path), **extra}


@pytest.fixture
def sqlite_root(settings, tmp_path):
    settings.BM_SQLITE_ROOTS = [str(tmp_path)]


def test_a_database_created_with_a_key_of_its_group_shows_its_id(api_client, group, tmp_path, sqlite_root):
    key = make_key(group)
    response = api_client.post(
        db_url(), sqlite_body(group, tmp_path, encryption_key_id=key.pk), format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["encryption_key_id"] == key.pk
    assert Database.objects.get().encryption_key == key


def test_a_database_without_a_key_has_a_null_key_id(api_client, group, make_database):
    database = make_database()
    assert api_client.get(db_url(database)).json()["encryption_key_id"] is None


def test_a_key_of_another_of_my_groups_is_refused_by_the_models_rule(
    api_client, group, make_group, user, make_database
):
    other_key = make_key(make_group(owner=user))
    database = make_database()
    response = api_client.patch(db_url(database), {"encryption_key_id": other_key.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"encryption_key_id": [KEY_OF_ANOTHER_GROUP]}
    database.refresh_from_db()
    assert database.encryption_key is None


def test_a_key_outside_my_groups_is_refused_without_revealing_it(
    api_client, make_group, other_user, make_database
):
    foreign = make_key(make_group(owner=other_user))
    database = make_database()
    for key_id in (foreign.pk, 987654):
        response = api_client.patch(db_url(database), {"encryption_key_id": key_id}, format="json")
        assert response.status_code == 400
        assert response.json() == {"encryption_key_id": ["No encryption key with this id among your groups."]}


def test_moving_a_database_to_another_group_with_its_key_is_refused(
    api_client, group, make_group, user, make_database
):
    database = make_database(encryption_key=make_key(group))
    response = api_client.patch(db_url(database), {"group_id": make_group(owner=user).pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"encryption_key_id": [KEY_OF_ANOTHER_GROUP]}


def test_null_turns_encryption_off(api_client, group, make_database):
    database = make_database(encryption_key=make_key(group))
    response = api_client.patch(db_url(database), {"encryption_key_id": None}, format="json")
    assert response.status_code == 200, response.json()
    database.refresh_from_db()
    assert database.encryption_key is None


def test_the_page_form_offers_keys_and_refuses_one_of_another_group(
    group, make_group, user, tmp_path, sqlite_root
):
    key = make_key(group)
    other_key = make_key(make_group(owner=user, name="zeta"), "other")
    path = tmp_path / "a.sqlite3"
    path.touch()
    data = {
        "group": group.pk,
        "name": "shop",
        "engine": "sqlite",
        "database_name": str(path),
        "compression": "zstd",
    }

    form = DatabaseForm(data={**data, "encryption_key": other_key.pk}, user=user)
    assert not form.is_valid()
    assert form.errors["encryption_key"] == [KEY_OF_ANOTHER_GROUP]

    form = DatabaseForm(data={**data, "encryption_key": key.pk}, user=user)
    assert form.is_valid(), form.errors
    assert form.save().encryption_key == key
    labels = [label for _, label in DatabaseForm(user=user).fields["encryption_key"].choices]
    assert labels[0] == "None: backups are not encrypted"
    assert any(label.startswith("offsite (team) · age1") for label in labels)


def test_the_form_does_not_offer_keys_of_groups_i_do_not_own(group, make_group, other_user, user):
    make_key(make_group(owner=other_user), "foreign")
    viewer_group = make_group(owner=user, role=Membership.Role.VIEWER)
    make_key(viewer_group, "viewed")
    keys = DatabaseForm(user=user).fields["encryption_key"].queryset
    assert list(keys.values_list("name", flat=True)) == []


def test_the_database_edit_page_offers_and_saves_the_key(group, user, make_database, tmp_path, sqlite_root):
    key = make_key(group)
    path = tmp_path / "shop.sqlite3"
    path.touch()
    database = make_database(name="shop", database_name=str(path))
    client = Client()
    client.force_login(user)
    url = reverse("databases:update", args=[database.pk])
    html = client.get(url).content.decode()
    assert 'name="encryption_key"' in html and "offsite (team)" in html
    data = {
        "group": group.pk,
        "name": "shop",
        "engine": "sqlite",
        "database_name": str(path),
        "compression": "zstd",
        "encryption_key": key.pk,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()
    database.refresh_from_db()
    assert database.encryption_key == key


def test_the_admin_form_applies_the_same_rule(group, make_group, user, make_database):
    database = make_database()
    other_key = make_key(make_group(owner=user), "other")
    data = {
        "group": group.pk,
        "name": database.name,
        "engine": "sqlite",
        "database_name": database.database_name,
        "options": "{}",
        "compression": "zstd",
        "encryption_key": other_key.pk,
    }
    form = DatabaseAdminForm(data=data, instance=database)
    assert not form.is_valid()
    assert form.errors["encryption_key"] == [KEY_OF_ANOTHER_GROUP]
    assert site._registry[Database].form is DatabaseAdminForm  # the form the admin uses


def test_recipients_for_a_database_are_its_keys_recipient_or_none(group, make_database):
    key = make_key(group)
    assert services.recipients_for(make_database(encryption_key=key)) == [key.recipient]
    assert services.recipients_for(make_database()) is None


def test_identities_for_a_recipient_are_the_kept_secret_keys_of_the_group(group, make_group, user):
    kept = services.create_key(group, "kept", keep_identity=True)
    not_kept = services.create_key(group, "not kept")
    assert services.identities_for(group.pk, kept.key.recipient) == [kept.identity]
    assert services.identities_for(group.pk, not_kept.key.recipient) == []
    assert services.identities_for(make_group(owner=user).pk, kept.key.recipient) == []
    assert age.recipient_of(kept.identity) == kept.key.recipient


def test_a_restore_key_is_checked_against_the_backups_recipient():
    identity, recipient = age.generate_identity()
    other_identity, _ = age.generate_identity()
    key_file = f"# created: now\n# public key: {recipient}\n{identity}\n"
    assert services.clean_identity_for(key_file, recipient) == identity
    with pytest.raises(ValidationError, match=f"does not open this backup: it was encrypted to {recipient}"):
        services.clean_identity_for(other_identity, recipient)
    with pytest.raises(ValidationError, match="Not an age secret key"):
        services.clean_identity_for("hunter2", recipient)
    with pytest.raises(ValidationError, match="No secret key found"):
        services.clean_identity_for("", recipient)
