"""The backups page (/backups/): every visible backup, newest first, filtered, 50 a page, never another group's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.backups.models import Backup, BackupCopy
from apps.backups.views import BackupListView

pytestmark = pytest.mark.django_db

LIST = reverse("backups:list")
LONG_ERROR = (
    "pg_dump: error: connection to server failed: FATAL:  password authentication failed "
    + ('for user "shop" — the whole cause stays readable ' * 5)
    + "END-OF-ERROR"
)


@pytest.fixture
def client_of():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def shop(make_database):
    return make_database(name="shop")


@pytest.fixture
def crm(make_database):
    return make_database(name="crm")


@pytest.fixture
def foreign(make_group, make_database, other_user):
    """A database of another group (mallory's), with a failed backup."""
    group = make_group(owner=other_user, name="elsewhere")
    database = make_database(group=group, name="secret-db")
    Backup.objects.create(database=database, status=Backup.Status.FAILED, error="theirs")
    return database


def backup(database, minutes_ago: int, **fields) -> Backup:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    fields.setdefault("status", Backup.Status.COMPLETED)
    return Backup.objects.create(database=database, created_at=at, finished_at=at, **fields)


def rows_of(response) -> list[int]:
    return [b.pk for b in response.context["backups"]]


def test_it_lists_every_backup_of_the_user_s_groups_newest_first_with_the_whole_error_and_copies(
    client_of, user, shop, crm, foreign
):
    old = backup(shop, 60, size_bytes=2048, trigger=Backup.Trigger.SCHEDULED)
    failed = backup(crm, 5, status=Backup.Status.FAILED, error=LONG_ERROR)
    BackupCopy.objects.create(backup=old, destination_name="local", status=BackupCopy.Status.COMPLETED)
    BackupCopy.objects.create(
        backup=old,
        destination_name="bucket",
        status=BackupCopy.Status.COMPLETED,
        verify_status=BackupCopy.Check.MISSING,
    )
    response = client_of(user).get(LIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert rows_of(response) == [failed.pk, old.pk]
    assert "secret-db" not in html and "theirs" not in html
    assert "<details" in html and LONG_ERROR.replace('"', "&quot;") in html  # whole, not truncated
    assert 'data-copy="saved"' in html and 'data-copy="missing"' in html
    assert "2.0 KB" in html and "Scheduled" in html
    assert f'href="{reverse("backups:detail", args=[failed.pk])}"' in html
    assert "2 backups" in html
    assert f'href="{LIST}" aria-current="page">Backups</a>' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", ["failed"]),
        ("trigger=scheduled", ["scheduled"]),
        ("database={crm}", ["failed"]),
        ("database={shop}&status=completed", ["scheduled", "manual"]),
        ("since={yesterday}", ["failed", "scheduled"]),
        ("until={yesterday}", ["old"]),
        ("since={yesterday}&until={today}&status=completed", ["scheduled"]),
    ],
)
def test_each_filter_narrows_the_list(client_of, user, shop, crm, query, expected):
    now = timezone.now()
    made = {
        "failed": backup(crm, 1, status=Backup.Status.FAILED),
        "scheduled": backup(shop, 2, trigger=Backup.Trigger.SCHEDULED),
        "manual": backup(shop, 3 * 24 * 60),
        "old": None,
    }
    made["old"] = made["manual"]
    yesterday = (now - timedelta(days=1)).date().isoformat()
    today = now.date().isoformat()
    response = client_of(user).get(
        LIST + "?" + query.format(crm=crm.pk, shop=shop.pk, yesterday=yesterday, today=today)
    )
    assert response.status_code == 200
    assert rows_of(response) == [made[name].pk for name in expected]


def test_the_group_filter_lists_one_group_and_offers_only_the_user_s_groups(
    client_of, user, make_group, make_database, shop, foreign
):
    second = make_group(owner=user, name="second")
    other = make_database(group=second, name="ledger")
    mine = backup(other, 1)
    backup(shop, 2)
    response = client_of(user).get(f"{LIST}?group={second.pk}")
    assert rows_of(response) == [mine.pk]
    form = response.context["filters"].form
    assert {g.name for g in form.fields["group"].queryset} == {"team", "second"}
    assert "secret-db" not in {d.name for d in form.fields["database"].queryset}
    assert "ledger (second)" in response.content.decode()


@pytest.mark.parametrize("param", ["group", "database"])
def test_another_group_s_id_in_a_filter_is_a_form_error_and_lists_nothing(
    client_of, user, shop, foreign, param
):
    backup(shop, 1)
    value = foreign.group_id if param == "group" else foreign.pk
    response = client_of(user).get(f"{LIST}?{param}={value}")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice" in html
    assert response.context["backups"] == []
    assert "secret-db" not in html and "theirs" not in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=exploded", "Select a valid choice"),
        ("database=abc", "Select a valid choice"),
        ("since=yesterday", "Enter a valid date"),
        ("since=2026-05-02&until=2026-05-01", "The “from” date must be on or before the “to” date."),
    ],
)
def test_bad_filters_answer_400_with_the_reason(client_of, user, shop, query, message):
    backup(shop, 1)
    response = client_of(user).get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["backups"] == []


def test_it_pages_by_50_and_keeps_the_filters_in_the_page_links(client_of, user, shop, crm):
    for i in range(120):
        backup(shop, i + 1)
    backup(crm, 1)
    client = client_of(user)
    first = client.get(f"{LIST}?database={shop.pk}")
    assert len(rows_of(first)) == 50 and "120 backups match" in first.content.decode()
    assert f"?database={shop.pk}&amp;page=2" in first.content.decode()
    third = client.get(f"{LIST}?database={shop.pk}&page=3")
    assert len(rows_of(third)) == 20
    assert rows_of(third)[-1] == Backup.objects.filter(database=shop).order_by("created_at").first().pk
    assert client.get(f"{LIST}?database={shop.pk}&page=99").status_code == 200  # the last page
    assert client.get(f"{LIST}?page=zzz").status_code == 200  # the first page


def test_the_count_stops_at_its_cap_and_says_how_to_reach_older_backups(client_of, user, shop, monkeypatch):
    monkeypatch.setattr(BackupListView, "COUNT_CAP", 100)
    for i in range(130):
        backup(shop, i + 1)
    client = client_of(user)
    first = client.get(LIST)
    assert "More than 100 backups" in first.content.decode()
    last = client.get(f"{LIST}?page=2")
    assert len(rows_of(last)) == 50
    assert "choose dates" in last.content.decode()
    with CaptureQueriesContext(connection) as ctx:
        client.get(LIST)
    count_sql = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"]]
    assert count_sql and all("LIMIT 101" in sql for sql in count_sql)


def test_the_page_costs_the_same_queries_for_5_or_50_rows(client_of, user, shop):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LIST).status_code == 200
        return len(ctx.captured_queries)

    client = client_of(user)
    for i in range(5):
        BackupCopy.objects.create(backup=backup(shop, i + 1), destination_name="local")
    few = queries()
    for i in range(60):
        BackupCopy.objects.create(backup=backup(shop, 100 + i), destination_name="local")
    assert queries() == few


def test_anonymous_visitors_are_sent_to_sign_in_and_outsiders_see_nothing(client_of, other_user, shop):
    backup(shop, 1)
    assert Client().get(LIST).status_code == 302
    response = client_of(other_user).get(LIST)
    assert response.status_code == 200 and rows_of(response) == []
    assert "No backups yet." in response.content.decode()
