"""Lists and pages cost the same number of SQL queries whatever the page size or catalogue size."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import Membership
from apps.backups.seed import seed_catalogue
from apps.databases.models import Database
from apps.groups.models import Group

pytestmark = pytest.mark.django_db


def join_every_group(user) -> None:
    for group in Group.objects.exclude(memberships__user=user):
        Membership.objects.create(user=user, group=group, role=Membership.Role.OWNER)


def queries_of(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return [q["sql"] for q in ctx.captured_queries]


def assert_same_count(many: list[str], few: list[str]) -> None:
    """As many queries for the larger page as for the smaller one; else the added ones, to fix."""
    if len(many) != len(few):
        shape = [re.sub(r"\d+", "N", q)[:400] for q in few]
        extra = [q[:400] for q in many if re.sub(r"\d+", "N", q)[:400] not in shape]
        pytest.fail(
            f"{len(many)} queries instead of {len(few)}; not in the smaller page:\n" + "\n".join(extra)
        )


@pytest.fixture
def catalogue(user):
    """30 databases in two groups the user owns with 120 backups, one with 30 and a busy one with 300."""
    seed_catalogue(30, 120)
    seed_catalogue(1, 30, force=True)
    seed_catalogue(1, 300, force=True)
    join_every_group(user)
    return Database.objects.order_by("id")


@pytest.fixture
def busy(catalogue) -> Database:
    return catalogue.last()


@pytest.fixture
def medium(catalogue) -> Database:
    return catalogue[30]


@pytest.fixture
def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "filters",
    ["", "&status=completed", "&status=failed", "&database_id={db}", "&database_id={db}&status=completed"],
)
def test_the_backup_list_costs_the_same_queries_for_10_or_100_rows(api_client, busy, filters):
    query = filters.format(db=busy.pk)
    small = queries_of(api_client, f"/api/backups/?limit=10{query}")
    assert len(api_client.get(f"/api/backups/?limit=100{query}").json()["results"]) > 10
    assert_same_count(queries_of(api_client, f"/api/backups/?limit=100{query}"), small)


@pytest.mark.parametrize("path", ["/api/databases/", "/api/schedules/"])
def test_the_database_and_schedule_lists_cost_the_same_queries_for_3_or_30_rows(api_client, catalogue, path):
    small = queries_of(api_client, f"{path}?limit=3")
    assert len(api_client.get(f"{path}?limit=30").json()["results"]) == 30
    assert_same_count(queries_of(api_client, f"{path}?limit=30"), small)


def test_the_dashboard_costs_the_same_queries_with_30_or_120_databases(page_client, catalogue, user):
    few = queries_of(page_client, reverse("backups:dashboard"))
    seed_catalogue(90, 480, force=True)
    join_every_group(user)
    assert_same_count(queries_of(page_client, reverse("backups:dashboard")), few)


def test_the_database_list_page_costs_the_same_queries_with_30_or_120_databases(page_client, catalogue, user):
    few = queries_of(page_client, reverse("databases:list"))
    seed_catalogue(90, 480, force=True)
    join_every_group(user)
    assert_same_count(queries_of(page_client, reverse("databases:list")), few)


def test_a_database_page_costs_the_same_queries_with_30_or_300_backups(page_client, medium, busy):
    assert (medium.backups.count(), busy.backups.count()) == (30, 300)
    few = queries_of(page_client, reverse("databases:detail", args=[medium.pk]))
    assert_same_count(queries_of(page_client, reverse("databases:detail", args=[busy.pk])), few)


def test_a_database_s_activity_costs_the_same_queries_with_30_or_300_backups(page_client, medium, busy):
    few = queries_of(page_client, reverse("backups:activity", args=[medium.pk]))
    assert_same_count(queries_of(page_client, reverse("backups:activity", args=[busy.pk])), few)
