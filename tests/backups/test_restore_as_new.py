"""Restore as a new database: created on the server of a registered one, registered in its group,
restored into; nothing existing is replaced."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.backups import runner
from apps.backups.models import Restore
from apps.backups.restore import run_restore
from apps.databases.models import Database
from tests.backups.conftest import table_digest
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def backup(sqlite_database, make_destination, make_backup):
    make_destination(sqlite_database)
    backup = runner.run_backup(make_backup(sqlite_database))
    assert backup.status == "completed", backup.error
    return backup


def post(client, backup, **body):
    return client.post(f"/api/backups/{backup.pk}/restore-as-new", body, format="json")


def test_a_backup_restores_into_a_new_sqlite_file_registered_in_the_group(
    api_client, backup, sqlite_database, tmp_path
):
    path = str(tmp_path / "looked-at.sqlite3")
    response = post(
        api_client,
        backup,
        server_database_id=sqlite_database.pk,
        name="orders as of then",
        database_name=path,
    )

    assert response.status_code == 202, response.data
    assert response.data["create_target"] is True and response.data["clean"] is False
    new = Database.objects.get(pk=response.data["target_database_id"])
    assert (new.name, new.engine, new.group_id, new.database_name) == (
        "orders as of then",
        "sqlite",
        sqlite_database.group_id,
        path,
    )
    assert not os.path.exists(path)

    restore = run_restore(Restore.objects.get(pk=response.data["id"]))
    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert table_digest(path) == table_digest(sqlite_database.database_name)


def test_an_existing_file_or_a_taken_name_is_refused_and_nothing_is_registered(
    api_client, backup, sqlite_database, tmp_path
):
    count = Database.objects.count()
    taken = post(
        api_client,
        backup,
        server_database_id=sqlite_database.pk,
        name="x",
        database_name=sqlite_database.database_name,
    )
    assert taken.status_code == 400 and "database_name" in taken.data
    same_name = post(
        api_client,
        backup,
        server_database_id=sqlite_database.pk,
        name=sqlite_database.name,
        database_name=str(tmp_path / "new.sqlite3"),
    )
    assert same_name.status_code == 400 and "name" in same_name.data
    outside = post(
        api_client, backup, server_database_id=sqlite_database.pk, name="y", database_name="/etc/new.sqlite3"
    )
    assert outside.status_code == 400 and "database_name" in outside.data
    assert Database.objects.count() == count and not Restore.objects.exists()


def test_registering_a_database_needs_the_owner_role(other_user, backup, sqlite_database, tmp_path):
    from rest_framework.test import APIClient

    Membership.objects.create(user=other_user, group=sqlite_database.group, role=Membership.Role.OPERATOR)
    client = APIClient()
    client.force_authenticate(other_user)
    response = post(
        client,
        backup,
        server_database_id=sqlite_database.pk,
        name="mine",
        database_name=str(tmp_path / "mine.sqlite3"),
    )
    assert response.status_code == 400
    assert response.data == {
        "server_database_id": ["Registering a new database needs the owner role in the server's group."]
    }
    assert not Restore.objects.exists()


def test_a_new_file_that_appeared_meanwhile_fails_the_restore_and_is_left_alone(
    api_client, backup, sqlite_database, tmp_path
):
    path = tmp_path / "late.sqlite3"
    response = post(
        api_client, backup, server_database_id=sqlite_database.pk, name="late", database_name=str(path)
    )
    path.write_bytes(b"someone else's file")

    restore = run_restore(Restore.objects.get(pk=response.data["id"]))

    assert restore.status == Restore.Status.FAILED
    assert (
        restore.error
        == f"The new database could not be created: sqlite: {path} already exists; a new database needs a new file"
    )
    assert path.read_bytes() == b"someone else's file"


def test_the_restore_page_restores_as_a_new_database_and_lands_on_the_restore(world, tmp_path):
    client = world.client_for(world.owner)
    url = reverse("backups:restore", args=[world.backup.pk])
    html = client.get(url).content.decode()
    assert "Or restore as a new database" in html
    path = str(tmp_path / "old-orders.sqlite3")

    refused = client.post(
        url, {"mode": "new", "server": world.database.pk, "name": "", "database_name": path}
    )
    assert refused.status_code == 400 and "This field cannot be blank." in refused.content.decode()

    response = client.post(
        url, {"mode": "new", "server": world.database.pk, "name": "old orders", "database_name": path}
    )
    restore = Restore.objects.get(create_target=True)
    assert response["Location"] == reverse("backups:restore-detail", args=[restore.pk])
    assert restore.target_database.name == "old orders"
    html = client.get(response["Location"]).content.decode()
    assert "into the new database old orders queued" in html
    assert "Restore as a new database" in html

    # Operators may restore, but not register databases: the section is not offered to them.
    assert "Or restore as a new database" not in world.client_for(world.operator).get(url).content.decode()
