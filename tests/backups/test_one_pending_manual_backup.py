"""A database has at most one pending manual backup: a second request returns the queued one (issue 10)."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection
from django.urls import reverse

from apps.backups import services
from apps.backups.models import Backup
from tests.ui.world import world_fixture  # noqa: F401


def test_a_second_api_request_answers_202_with_the_pending_backup(
    api_client, sqlite_database, make_destination
):
    make_destination(sqlite_database)
    first = api_client.post("/api/backups/manual", {"database_id": sqlite_database.pk}, format="json")
    second = api_client.post("/api/backups/manual", {"database_id": sqlite_database.pk}, format="json")
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.data["id"] == first.data["id"] and second.data["status"] == "pending"
    assert Backup.objects.filter(database=sqlite_database).count() == 1


def test_once_the_pending_backup_has_started_a_new_request_queues_another(
    api_client, sqlite_database, make_destination
):
    make_destination(sqlite_database)
    first = api_client.post("/api/backups/manual", {"database_id": sqlite_database.pk}, format="json")
    Backup.objects.filter(pk=first.data["id"]).update(status="in_progress")
    Backup.objects.create(database=sqlite_database, trigger="scheduled", status="pending")
    second = api_client.post("/api/backups/manual", {"database_id": sqlite_database.pk}, format="json")
    assert second.status_code == 202 and second.data["id"] != first.data["id"]
    assert Backup.objects.filter(database=sqlite_database, trigger="manual", status="pending").count() == 1


def test_the_run_now_button_says_already_queued_the_second_time(world):
    url = reverse("backups:run", args=[world.database.pk])
    client = world.client_for(world.operator)
    client.post(url)
    backup = Backup.objects.get(status="pending")
    html = client.post(url, follow=True).content.decode()
    assert f"Backup #{backup.pk} of orders is already queued; its progress shows below." in html
    assert Backup.objects.filter(status="pending").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_queue_one_backup(monkeypatch, make_group, make_database, make_destination):
    """Both requests check for a pending backup before either creates one, unless the database row lock
    makes the second wait for the first to commit."""
    if connection.vendor == "sqlite":
        pytest.skip("needs a metadata server with row locks and two connections (the PostgreSQL pass)")
    User = get_user_model()
    ann = User.objects.create_user("ann", "", "pw-ann-123!")
    group = make_group(owner=ann)
    database = make_database(group=group)
    make_destination(database)
    both_checked = threading.Barrier(2)
    original_create = Backup.objects.create

    def create_after_both_checked(**fields):
        try:
            both_checked.wait(timeout=2)  # the other request has checked too (or is waiting on the lock)
        except threading.BrokenBarrierError:
            pass
        return original_create(**fields)

    monkeypatch.setattr(Backup.objects, "create", create_after_both_checked)
    ids: list[int] = []

    def request() -> None:
        try:
            ids.append(services.request_manual_backup(database, ann).pk)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(ids) == 2 and ids[0] == ids[1]
    assert Backup.objects.filter(database=database).count() == 1
