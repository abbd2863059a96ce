"""Database pages: list by group, detail, the engine-driven form, connection tests, role-based actions."""

import pytest
from django.urls import reverse

from apps.databases.models import Database
from tests.ui.world import assert_access, make_sqlite, world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_database_pages_answer_members_and_hide_from_outsiders(world):
    pk = world.database.pk
    assert_access(world, reverse("databases:detail", args=[pk]))
    assert_access(
        world, reverse("databases:update", args=[pk]), world.owner, forbidden=[world.operator, world.viewer]
    )
    assert_access(world, reverse("databases:delete", args=[pk]), world.owner, forbidden=[world.viewer])


def test_the_list_shows_the_callers_databases_filtered_by_group(world, make_group, make_database):
    other = make_group(owner=world.viewer, name="elsewhere")
    make_database(group=other, name="billing")
    client = world.client_for(world.viewer)
    html = client.get(reverse("databases:list")).content.decode()
    assert "orders" in html and "billing" in html
    filtered = client.get(reverse("databases:list") + f"?group={world.group.pk}").content.decode()
    assert "orders" in filtered and "billing" not in filtered
    assert client.get(reverse("databases:list") + "?group=999999").status_code == 404
    assert "orders" not in world.client_for(world.outsider).get(reverse("databases:list")).content.decode()
    assert world.client_for(None).get(reverse("databases:list")).status_code == 302


def test_an_owner_adds_a_sqlite_database_and_lands_on_its_page(world, tmp_path):
    path = make_sqlite(tmp_path / "new.sqlite3")
    response = world.client_for(world.owner).post(
        reverse("databases:create"),
        {
            "group": world.group.pk,
            "name": "inventory",
            "engine": "sqlite",
            "database_name": str(path),
            "host": "ignored",
            "compression": "zstd",
        },
        follow=True,
    )
    db = Database.objects.get(name="inventory")
    assert response.redirect_chain[-1][0] == reverse("databases:detail", args=[db.pk])
    assert db.host == "" and db.database_name == str(path)
    assert "Database “inventory” added." in response.content.decode()


def test_form_errors_are_shown_inline_in_plain_words(world):
    client = world.client_for(world.owner)
    response = client.post(
        reverse("databases:create"),
        {
            "group": world.group.pk,
            "name": "orders",
            "engine": "sqlite",
            "database_name": "relative.db",
            "compression": "zstd",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter the absolute path of the SQLite file" in html
    assert "already has a database named" in html
    response = client.post(
        reverse("databases:create"),
        {
            "group": world.group.pk,
            "name": "pg",
            "engine": "postgresql",
            "database_name": "app",
            "compression": "zstd",
        },
    )
    assert "Enter the server&#x27;s host name or IP address." in response.content.decode()


def test_only_owners_of_the_group_can_be_chosen_and_others_cannot_create(world):
    response = world.client_for(world.operator).get(reverse("databases:create"))
    assert response.status_code == 302 and response["Location"] == reverse("groups:create")
    response = world.client_for(world.owner).post(
        reverse("databases:create"),
        {"group": 999, "name": "x", "engine": "sqlite", "database_name": "/tmp/x.db", "compression": "zstd"},
    )
    assert "Select a valid choice" in response.content.decode()


def test_the_password_is_never_rendered_and_an_empty_field_keeps_it(world):
    db = Database.objects.create(
        group=world.group,
        name="pg",
        engine="postgresql",
        host="db.internal",
        port=5432,
        database_name="app",
        username="app",
        password="s3cret-Pa55",
    )
    client = world.client_for(world.owner)
    for url in (reverse("databases:update", args=[db.pk]), reverse("databases:detail", args=[db.pk])):
        assert "s3cret-Pa55" not in client.get(url).content.decode()
    client.post(
        reverse("databases:update", args=[db.pk]),
        {
            "group": world.group.pk,
            "name": "pg2",
            "engine": "postgresql",
            "host": "db.internal",
            "port": 5432,
            "database_name": "app",
            "username": "app",
            "password": "",
            "compression": "zstd",
        },
    )
    db.refresh_from_db()
    assert db.name == "pg2" and db.password == "s3cret-Pa55"


def test_test_connection_answers_a_fragment_without_saving(world, tmp_path):
    client = world.client_for(world.owner)
    url = reverse("databases:test-connection")
    ok = client.post(
        url,
        {
            "group": world.group.pk,
            "name": "",
            "engine": "sqlite",
            "database_name": world.database.database_name,
            "compression": "zstd",
        },
    )
    assert ok.status_code == 200 and "Connection works." in ok.content.decode()
    missing = client.post(
        url, {"engine": "sqlite", "database_name": str(tmp_path / "nope.db"), "compression": "zstd"}
    )
    assert (
        "Connection failed." in missing.content.decode()
        and "No SQLite file at this path" in missing.content.decode()
    )
    incomplete = client.post(url, {"engine": "postgresql", "database_name": "app", "compression": "zstd"})
    assert "Cannot test yet" in incomplete.content.decode()
    assert Database.objects.count() == 1


def test_test_connection_of_a_saved_database_needs_the_owner_role(world):
    url = reverse("databases:check", args=[world.database.pk])
    assert "Connection works." in world.client_for(world.owner).post(url).content.decode()
    assert world.client_for(world.operator).post(url).status_code == 403
    assert world.client_for(world.viewer).post(url).status_code == 403
    assert world.client_for(world.outsider).post(url).status_code == 404
    assert (
        world.client_for(world.outsider)
        .post(reverse("databases:test-connection"), {"engine": "sqlite"})
        .status_code
        == 403
    )


def test_a_viewer_is_offered_no_run_download_delete_or_restore(world):
    html = (
        world.client_for(world.viewer)
        .get(reverse("databases:detail", args=[world.database.pk]))
        .content.decode()
    )
    for action in (
        "Run backup now",
        ">Download<",
        ">Restore<",
        ">Delete<",
        ">Verify<",
        "Add a destination",
        "Add schedule",
    ):
        assert action not in html, action
    b = world.backup.pk
    for url in (
        reverse("backups:run", args=[world.database.pk]),
        reverse("backups:download", args=[b]),
        reverse("backups:delete", args=[b]),
        reverse("backups:restore", args=[b]),
        reverse("backups:verify", args=[b]),
    ):
        assert url not in html, url
    assert "✓" in html and "primary" in html


def test_an_operator_may_run_verify_download_and_restore_but_not_delete_or_edit(world):
    html = (
        world.client_for(world.operator)
        .get(reverse("databases:detail", args=[world.database.pk]))
        .content.decode()
    )
    for action in ("Run backup now", "Verify", "Download", "Restore"):
        assert action in html, action
    assert "Delete the record" not in html and "Add a destination" not in html and ">Edit<" not in html


def test_an_owner_deletes_a_database_record(world):
    response = world.client_for(world.owner).post(
        reverse("databases:delete", args=[world.database.pk]), follow=True
    )
    assert not Database.objects.filter(pk=world.database.pk).exists()
    assert "Backup files already written stay on disk" in response.content.decode()
    assert world.file.exists()
