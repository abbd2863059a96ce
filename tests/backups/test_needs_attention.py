"""The dashboard's "Needs attention": bad newest backups stay in sight until a good one follows or someone acknowledges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.audit.models import AuditEntry
from apps.backups import attention
from apps.backups.dashboard import ATTENTION_ROWS
from apps.backups.models import Acknowledgement, Backup, BackupCopy
from apps.backups.seed import seed_catalogue
from apps.databases.models import Database
from apps.groups.models import Group
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("backups:dashboard")
LIVE = reverse("backups:dashboard-live")


def finished(database, minutes_ago: int, status=Backup.Status.COMPLETED, **fields) -> Backup:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return Backup.objects.create(database=database, status=status, created_at=at, finished_at=at, **fields)


def open_ids(user) -> list[int]:
    return [b.pk for b in attention.needs_attention(user)["open"]]


def ack_url(backup) -> str:
    return reverse("backups:acknowledge", args=[backup.pk])


def test_a_database_whose_newest_finished_backup_failed_needs_attention_until_a_good_one_follows(
    world, make_database
):
    shop = make_database(name="shop")
    failed = finished(shop, 10, Backup.Status.FAILED, error="FATAL: password authentication failed for user")
    Backup.objects.create(database=shop, status=Backup.Status.IN_PROGRESS)  # a run going on changes nothing
    assert open_ids(world.viewer) == [failed.pk]
    html = world.client_for(world.viewer).get(DASHBOARD).content.decode()
    assert f'data-attention-backup="{failed.pk}"' in html
    assert "FATAL: password authentication failed for user" in html
    finished(shop, 1)
    assert open_ids(world.viewer) == []
    html = world.client_for(world.viewer).get(DASHBOARD).content.decode()
    assert "data-attention-backup" not in html and "data-all-good" in html


def test_partial_backups_and_missing_or_damaged_copies_need_attention_but_an_old_failure_does_not(
    world, make_database
):
    partial = finished(make_database(name="partial-db"), 5, Backup.Status.PARTIAL)
    missing = finished(make_database(name="missing-db"), 4)
    BackupCopy.objects.create(
        backup=missing, destination_name="local", status="completed", verify_status=BackupCopy.Check.MISSING
    )
    corrupt = finished(make_database(name="corrupt-db"), 3)
    BackupCopy.objects.create(
        backup=corrupt, destination_name="s3", status="completed", verify_status=BackupCopy.Check.CORRUPT
    )
    recovered = make_database(name="recovered-db")
    finished(recovered, 50, Backup.Status.FAILED)
    finished(recovered, 40)
    assert open_ids(world.viewer) == [corrupt.pk, missing.pk, partial.pk]  # newest first
    page = attention.needs_attention(world.viewer)
    assert page["open_count"] == 3 and [b.damaged for b in page["open"]] == [True, True, False]


def test_an_operator_acknowledges_it_recorded_with_who_when_and_which_backup_and_audited(
    world, make_database
):
    shop = make_database(name="shop")
    failed = finished(shop, 10, Backup.Status.FAILED)
    client = world.client_for(world.operator)
    response = client.post(ack_url(failed), {"note": "disk replaced, tonight's run will do"}, follow=True)
    assert response.status_code == 200
    ack = Acknowledgement.objects.get()
    assert (ack.backup, ack.acknowledged_by, ack.note) == (
        failed,
        world.operator,
        "disk replaced, tonight's run will do",
    )
    assert timezone.now() - ack.acknowledged_at < timedelta(minutes=1)
    entry = AuditEntry.objects.get(action="acknowledgement.create")
    assert (entry.actor, entry.group_id, entry.object_id) == (world.operator, world.group.pk, str(ack.pk))
    assert entry.detail["backup_id"] == failed.pk and entry.detail["note"].startswith("disk replaced")
    html = response.content.decode()
    assert f"Backup #{failed.pk} of shop acknowledged" in html
    assert open_ids(world.viewer) == []
    assert f'data-acknowledged-backup="{failed.pk}"' in html and "acknowledged by olga" in html
    assert "disk replaced" in html
    # Pressing again changes nothing.
    client.post(ack_url(failed))
    assert Acknowledgement.objects.count() == 1


def test_the_next_bad_backup_needs_attention_again_after_an_acknowledgement(world, make_database):
    shop = make_database(name="shop")
    first = finished(shop, 10, Backup.Status.FAILED)
    world.client_for(world.operator).post(ack_url(first))
    assert open_ids(world.viewer) == []
    second = finished(shop, 5, Backup.Status.PARTIAL)
    assert open_ids(world.viewer) == [second.pk]


def test_viewers_cannot_acknowledge_outsiders_get_404_and_get_is_refused(world, make_database):
    failed = finished(make_database(name="shop"), 10, Backup.Status.FAILED)
    assert world.client_for(world.viewer).post(ack_url(failed)).status_code == 403
    assert world.client_for(world.outsider).post(ack_url(failed)).status_code == 404
    assert world.client_for(world.operator).get(ack_url(failed)).status_code == 405
    assert Client().post(ack_url(failed)).status_code == 302
    assert not Acknowledgement.objects.exists()
    assert open_ids(world.viewer) == [failed.pk]


def test_a_backup_that_no_longer_needs_attention_cannot_be_acknowledged(world, make_database):
    shop = make_database(name="shop")
    failed = finished(shop, 10, Backup.Status.FAILED)
    finished(shop, 5)
    response = world.client_for(world.operator).post(ack_url(failed), follow=True)
    assert f"Backup #{failed.pk} does not need attention" in response.content.decode()
    response = world.client_for(world.operator).post(ack_url(world.backup), follow=True)
    assert f"Backup #{world.backup.pk} does not need attention" in response.content.decode()
    broken = finished(make_database(name="crm"), 1, Backup.Status.FAILED)
    response = world.client_for(world.operator).post(ack_url(broken), {"note": "x" * 501}, follow=True)
    assert "Keep the note under 500 characters." in response.content.decode()
    assert not Acknowledgement.objects.exists()
    assert not AuditEntry.objects.filter(action="acknowledgement.create").exists()


def test_another_group_s_troubles_are_never_shown(world, make_group, make_database):
    theirs = make_group(owner=world.outsider, name="theirs")
    hidden = finished(
        make_database(group=theirs, name="their-db"), 5, Backup.Status.FAILED, error="their secret"
    )
    mine = finished(make_database(name="shop"), 6, Backup.Status.FAILED)
    assert open_ids(world.viewer) == [mine.pk]
    for url in (DASHBOARD, LIVE):
        html = world.client_for(world.viewer).get(url).content.decode()
        assert "their-db" not in html and "their secret" not in html
    assert open_ids(world.outsider) == [hidden.pk]


def test_the_refresh_fragment_carries_the_numbers_and_is_not_cached(world, make_database):
    failed = finished(make_database(name="shop"), 10, Backup.Status.FAILED)
    response = world.client_for(world.viewer).get(LIVE)
    html = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert html.lstrip().startswith('<div id="dashboard-live" data-refresh-url="/dashboard/live/"')
    assert f'data-attention-backup="{failed.pk}"' in html
    assert 'data-stat="attention"><span class="value">1<' in html
    assert "<html" not in html  # a fragment, not a page
    page = world.client_for(world.viewer).get(DASHBOARD).content.decode()
    assert 'id="dashboard-live" data-refresh-url="/dashboard/live/" data-refresh-seconds="30"' in page
    anonymous = Client().get(LIVE)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("accounts:login"))


def _join_every_group(user) -> None:
    for group in Group.objects.exclude(memberships__user=user):
        Membership.objects.create(user=user, group=group, role=Membership.Role.OWNER)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _fail_the_newest_backup_of_every_database() -> None:
    for database in Database.objects.all():
        newest = database.backups.filter(status__in=Backup.TERMINAL).order_by("-created_at", "-id").first()
        if newest is not None:
            Backup.objects.filter(pk=newest.pk).update(status=Backup.Status.FAILED)


@pytest.mark.parametrize("url", [DASHBOARD, LIVE])
def test_the_dashboard_costs_the_same_queries_with_20_or_100_databases_needing_attention(user, url):
    client = Client()
    client.force_login(user)
    seed_catalogue(20, 200)
    _join_every_group(user)
    _fail_the_newest_backup_of_every_database()
    for backup in attention.troubled_backups(user)[:2]:
        Acknowledgement.objects.create(backup=backup, acknowledged_by=user)
    few = _queries(client, url)
    seed_catalogue(80, 800, force=True)
    _join_every_group(user)
    _fail_the_newest_backup_of_every_database()
    for backup in attention.troubled_backups(user).filter(acknowledgement__isnull=True)[:5]:
        Acknowledgement.objects.create(backup=backup, acknowledged_by=user)
    assert _queries(client, url) == few
    html = client.get(url).content.decode()
    assert html.count("data-attention-backup=") == ATTENTION_ROWS  # not 93 rows
    assert f"{ATTENTION_ROWS} of 93 shown" in html
