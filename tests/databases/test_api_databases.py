import logging
import sqlite3

import pytest
from django.db import connection

from apps.accounts.models import Membership
from apps.databases.models import Database

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-Pa55word-XYZ"


def pg_body(group, **overrides):
    body = {
        "group_id": group.id,
        "name": "orders",
        "engine": "postgresql",
        "host": "127.0.0.1",
        "port": 5432,
        "database_name": "orders",
        "username": "app",
        "password": SECRET,
    }
    body.update(overrides)
    return body


def test_create_stores_the_password_encrypted_and_never_returns_it(api_client, group, caplog):
    caplog.set_level(logging.DEBUG)
    response = api_client.post("/api/databases/", pg_body(group), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body and body["has_password"] is True
    assert SECRET not in response.content.decode()
    with connection.cursor() as cur:
        cur.execute("SELECT password FROM databases_database WHERE id = %s", [body["id"]])
        stored = cur.fetchone()[0]
    assert SECRET not in stored and stored.startswith("fernet:")
    assert Database.objects.get(pk=body["id"]).password == SECRET
    for path in ["/api/databases/", f"/api/databases/{body['id']}", f"/api/databases/{body['id']}/details"]:
        assert SECRET not in api_client.get(path).content.decode()
    assert SECRET not in caplog.text


def test_update_without_password_keeps_it_and_empty_string_clears_it(api_client, group):
    db_id = api_client.post("/api/databases/", pg_body(group), format="json").json()["id"]
    assert api_client.patch(f"/api/databases/{db_id}", {"name": "renamed"}, format="json").status_code == 200
    assert Database.objects.get(pk=db_id).password == SECRET
    # A new host needs the password again (tests/databases/test_password_never_follows_a_new_host.py).
    assert (
        api_client.patch(f"/api/databases/{db_id}", {"host": "db.internal"}, format="json").status_code == 400
    )
    assert (
        api_client.patch(f"/api/databases/{db_id}", {"password": ""}, format="json").json()["has_password"]
        is False
    )


def test_port_defaults_to_the_engines_port(api_client, group):
    body = pg_body(group, engine="mysql")
    del body["port"]
    assert api_client.post("/api/databases/", body, format="json").json()["port"] == 3306


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"engine": "oracle"}, "engine"),
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"port": "abc"}, "port"),
        ({"host": ""}, "host"),
        ({"name": ""}, "name"),
        ({"colour": "blue"}, "colour"),
        ({"options": "not-an-object"}, "options"),
        ({"engine": "sqlite", "database_name": "relative/file.db"}, "database_name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api_client, group, overrides, field):
    response = api_client.post("/api/databases/", pg_body(group, **overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Database.objects.count() == 0


def test_missing_required_fields_are_named(api_client, group):
    response = api_client.post("/api/databases/", {"group_id": group.id}, format="json")
    assert response.status_code == 400
    assert {"name", "engine", "database_name"} <= set(response.json())


def test_a_group_of_someone_else_cannot_be_used(api_client, make_group, other_user):
    theirs = make_group(owner=other_user)
    response = api_client.post("/api/databases/", pg_body(theirs), format="json")
    assert response.status_code == 400
    assert response.json()["group_id"] == ["No group with this id among your groups."]


def test_other_users_databases_are_404_and_the_list_filters_by_group(
    api_client, other_client, make_database, group
):
    database = make_database()
    assert other_client.get(f"/api/databases/{database.id}").status_code == 404
    assert other_client.post(f"/api/databases/{database.id}/test").status_code == 404
    assert other_client.get("/api/databases/").json()["count"] == 0
    assert api_client.get(f"/api/databases/?group_id={group.id}").json()["count"] == 1
    assert api_client.get(f"/api/databases/?group_id={group.id + 100}").json()["count"] == 0
    assert api_client.get("/api/databases/?group_id=abc").status_code == 400


def test_viewers_can_read_but_not_change_or_test(other_client, other_user, make_database, group):
    database = make_database()
    Membership.objects.create(user=other_user, group=group, role="viewer")
    assert other_client.get(f"/api/databases/{database.id}").status_code == 200
    assert (
        other_client.patch(f"/api/databases/{database.id}", {"name": "x"}, format="json").status_code == 403
    )
    assert other_client.post(f"/api/databases/{database.id}/test").status_code == 403


def test_details_carries_destinations_schedules_backups_and_stats(
    api_client, make_database, make_destination, make_schedule
):
    database = make_database()
    make_destination(database, name="nas")
    make_schedule(database, name="nightly")
    body = api_client.get(f"/api/databases/{database.id}/details").json()
    assert [d["name"] for d in body["destinations"]] == ["nas"]
    assert [s["name"] for s in body["schedules"]] == ["nightly"]
    assert body["recent_backups"] == []
    assert body["stats"] == {
        "total_backups": 0,
        "completed": 0,
        "partial": 0,
        "failed": 0,
        "total_size_bytes": 0,
        "last_success_at": None,
    }


def test_sqlite_connection_test_reports_each_problem(api_client, group, tmp_path):
    def check(path):
        body = {"group_id": group.id, "engine": "sqlite", "database_name": str(path)}
        response = api_client.post("/api/databases/test-connection", body, format="json")
        assert response.status_code == 200, response.json()
        return response.json()

    good = tmp_path / "good.db"
    sqlite3.connect(good).execute("CREATE TABLE t (x)").connection.commit()
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database")
    assert check(good)["ok"] is True and check(good)["server_version"]
    assert check(tmp_path / "missing.db")["ok"] is False
    assert "No SQLite file at this path" in check(tmp_path / "missing.db")["message"]
    assert "is not a SQLite database" in check(text)["message"]


def test_connection_refused_is_ok_false_with_a_clear_message(api_client, group):
    body = pg_body(group, port=1, name="x")
    result = api_client.post("/api/databases/test-connection", body, format="json").json()
    assert result["ok"] is False
    assert result["message"].startswith("Host unreachable")
    assert SECRET not in str(result)


def test_postgresql_connection_tests_against_the_real_server(api_client, group, pg_server):
    body = pg_body(
        group,
        host=pg_server["host"],
        port=int(pg_server["port"]),
        username=pg_server["user"],
        password=pg_server["password"],
        database_name="postgres",
    )
    ok = api_client.post("/api/databases/test-connection", body, format="json").json()
    assert ok["ok"] is True and "PostgreSQL" in ok["server_version"]
    wrong = api_client.post(
        "/api/databases/test-connection", {**body, "password": SECRET}, format="json"
    ).json()
    assert wrong["ok"] is False and "Authentication failed" in wrong["message"]
    assert SECRET not in str(wrong)
    missing = api_client.post(
        "/api/databases/test-connection", {**body, "database_name": "nope_db"}, format="json"
    ).json()
    assert missing["ok"] is False and "'nope_db' does not exist" in missing["message"]


def test_mysql_connection_tests_against_the_real_server(api_client, group, mysql_server):
    body = pg_body(
        group,
        engine="mysql",
        host=mysql_server["host"],
        port=int(mysql_server["port"]),
        username=mysql_server["user"],
        password=mysql_server["password"],
        database_name="mysql",
    )
    ok = api_client.post("/api/databases/test-connection", body, format="json").json()
    assert ok["ok"] is True and ok["server_version"]
    wrong = api_client.post(
        "/api/databases/test-connection", {**body, "password": SECRET}, format="json"
    ).json()
    assert wrong["ok"] is False and "Authentication failed" in wrong["message"]
    assert SECRET not in str(wrong)
    missing = api_client.post(
        "/api/databases/test-connection", {**body, "database_name": "nope_db"}, format="json"
    ).json()
    assert missing["ok"] is False and "does not exist" in missing["message"]


def test_saved_database_connection_test_uses_the_stored_password(api_client, group, pg_server):
    body = pg_body(
        group,
        host=pg_server["host"],
        port=int(pg_server["port"]),
        username=pg_server["user"],
        password=pg_server["password"],
        database_name="postgres",
    )
    db_id = api_client.post("/api/databases/", body, format="json").json()["id"]
    result = api_client.post(f"/api/databases/{db_id}/test").json()
    assert result["ok"] is True and result["duration_ms"] >= 0
