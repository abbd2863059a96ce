"""Connection tests open sockets from this server: owners only, a budget per user, no server files."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.databases.models import Database
from apps.databases.throttles import OWNERS_ONLY

pytestmark = pytest.mark.django_db


@pytest.fixture
def saved(group):
    return Database.objects.create(
        group=group, name="shop", engine="postgresql", host="127.0.0.1", port=1, database_name="shop"
    )


def pg_body(group, **overrides):
    body = {
        "group_id": group.pk,
        "engine": "postgresql",
        "host": "127.0.0.1",
        "port": 1,
        "database_name": "a",
    }
    return {**body, **overrides}


@pytest.mark.parametrize("role", [Membership.Role.OPERATOR, Membership.Role.VIEWER])
def test_operators_and_viewers_get_403_with_the_reason(other_client, other_user, saved, group, role):
    Membership.objects.create(user=other_user, group=group, role=role)
    response = other_client.post(f"/api/databases/{saved.pk}/test")
    assert response.status_code == 403 and response.json()["detail"] == OWNERS_ONLY
    response = other_client.post("/api/databases/test-connection", pg_body(group), format="json")
    assert response.status_code == 403 and response.json()["detail"] == OWNERS_ONLY


def test_someone_who_owns_no_group_cannot_probe_with_test_connection(other_client):
    response = other_client.post("/api/databases/test-connection", {"engine": "postgresql"}, format="json")
    assert response.status_code == 403


def test_owners_are_limited_per_user_across_the_api_and_the_pages(
    settings, api_client, other_client, other_user, client, user, saved, group, make_group
):
    settings.BM_CONNECTION_TEST_RATE = "3/min"
    assert api_client.post(f"/api/databases/{saved.pk}/test").status_code == 200
    assert api_client.post("/api/databases/test-connection", pg_body(group), format="json").status_code == 200
    client.force_login(user)
    page = client.post(reverse("databases:check", args=[saved.pk]))
    assert page.status_code == 200
    refused = api_client.post(f"/api/databases/{saved.pk}/test")
    assert refused.status_code == 429
    page = client.post(reverse("databases:check", args=[saved.pk]))
    assert page.status_code == 429 and "Too many connection tests" in page.content.decode()
    # Another owner has a budget of their own.
    mine = make_group(owner=other_user)
    assert (
        other_client.post("/api/databases/test-connection", pg_body(mine), format="json").status_code == 200
    )


@pytest.mark.parametrize(
    "options",
    [
        {"tlsCAFile": "/etc/shadow"},
        {"auth_source": "/etc/passwd"},
        {"dumper": "../../bin/sh"},
        {"auth_source": ["admin"]},
    ],
)
def test_options_that_could_name_a_server_file_are_refused(api_client, group, options):
    body = pg_body(group, engine="mongodb", port=27017, name="m", options=options)
    response = api_client.post("/api/databases/test-connection", body, format="json")
    assert response.status_code == 400 and "options" in response.json()
    assert "/etc/" not in response.content.decode().replace(str(options), "")
    assert api_client.post("/api/databases/", body, format="json").status_code == 400


def test_the_options_each_engine_reads_are_accepted(api_client, group):
    mongo = pg_body(group, engine="mongodb", port=27017, name="m", options={"auth_source": "admin2"})
    assert api_client.post("/api/databases/", mongo, format="json").status_code == 201
    pg = pg_body(group, name="p", options={"sslmode": "require"})
    assert api_client.post("/api/databases/", pg, format="json").status_code == 201
    bad = pg_body(group, name="q", options={"sslmode": "sometimes"})
    assert "sslmode" in api_client.post("/api/databases/", bad, format="json").json()["options"][0]
