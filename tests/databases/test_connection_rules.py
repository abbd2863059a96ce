"""Database.clean() holds the per-engine rules: page, API and admin refuse and settle the same way."""

import pytest
from django.urls import reverse

from apps.databases.models import Database

pytestmark = pytest.mark.django_db

NO_HOST = "Enter the server's host name or IP address."


def admin_body(group, **overrides):
    body = {
        "group": group.pk,
        "name": "shop",
        "engine": "postgresql",
        "host": "",
        "port": "",
        "database_name": "shop",
        "username": "",
        "password": "",
        "options": "{}",
        "compression": "zstd",
        "timeout_seconds": "",
    }
    return {**body, **overrides}


def test_the_api_and_the_admin_want_a_host_with_the_pages_words(api_client, admin_client, group):
    body = {"group_id": group.pk, "name": "shop", "engine": "postgresql", "database_name": "shop"}
    response = api_client.post("/api/databases/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"host": [NO_HOST]}
    page = admin_client.post(reverse("admin:databases_database_add"), admin_body(group))
    assert page.status_code == 200
    assert "Enter the server&#x27;s host name or IP address." in page.content.decode()
    assert not Database.objects.exists()


def test_the_admin_refuses_a_sqlite_file_outside_the_allowed_roots(admin_client, group):
    page = admin_client.post(
        reverse("admin:databases_database_add"),
        admin_body(group, engine="sqlite", database_name="/etc/passwd"),
    )
    assert page.status_code == 200
    assert "SQLite files must lie in one of this group&#x27;s SQLite folders" in page.content.decode()
    assert not Database.objects.exists()


def test_the_admin_fills_the_engines_default_port(admin_client, group):
    page = admin_client.post(
        reverse("admin:databases_database_add"), admin_body(group, engine="mysql", host="db.internal")
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    assert Database.objects.get().port == 3306


def test_a_sqlite_database_keeps_no_network_fields_whatever_the_door(api_client, group, tmp_path):
    path = tmp_path / "shop.sqlite3"
    path.touch()
    body = {
        "group_id": group.pk,
        "name": "shop",
        "engine": "sqlite",
        "database_name": f" {path} ",
        "host": "db.internal",
        "port": 5432,
        "username": "app",
        "password": "secret",
    }
    response = api_client.post("/api/databases/", body, format="json")
    assert response.status_code == 201, response.content
    database = Database.objects.get()
    assert (database.database_name, database.host, database.port, database.username, database.password) == (
        str(path),
        "",
        None,
        "",
        "",
    )
