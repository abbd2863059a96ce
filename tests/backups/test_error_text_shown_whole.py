"""A backup's error is shown whole: folded to its first line in lists, every character one click
away, and in full (with the dump tool's stderr tail, secrets masked) on the backup's page."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.backups import runner
from apps.backups.models import Backup, BackupCopy
from apps.common.templatetags.error_text import SUMMARY_LIMIT, fold
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

CAUSE = 'FATAL:  password authentication failed for user "shop"'
LONG_ERROR = (
    'pg_dump failed (exit status 1): pg_dump: error: connection to server at "db.internal" '
    "(10.0.0.7), port 5432 failed: " + CAUSE + '\nconnection to server at "db.internal" (10.0.0.8), '
    "port 5432 failed: " + CAUSE
)


def failed_backup(world, error: str) -> Backup:
    now = timezone.now()
    return Backup.objects.create(
        database=world.database, status=Backup.Status.FAILED, created_at=now, finished_at=now, error=error
    )


def fold_of(html: str, backup_id: int) -> str:
    row = re.search(rf'<tr id="backup-{backup_id}".*?</tr>', html, re.S)
    assert row, f"no row for backup {backup_id}"
    return row.group(0)


def test_fold_keeps_every_character_and_summarises_the_first_line():
    folded = fold(LONG_ERROR)
    assert folded["text"] == LONG_ERROR.strip() and folded["folded"]
    assert folded["summary"].startswith("pg_dump failed (exit status 1)")
    assert len(folded["summary"]) <= SUMMARY_LIMIT
    short = fold("no enabled destination")
    assert short == {"summary": "no enabled destination", "text": "no enabled destination", "folded": False}
    assert fold("")["text"] == "" and fold(None)["folded"] is False


def test_the_database_page_folds_a_long_error_without_cutting_its_cause(world):
    backup = failed_backup(world, LONG_ERROR)
    html = world.client_for(world.viewer).get(reverse("databases:detail", args=[world.database.pk])).content
    row = fold_of(html.decode(), backup.pk)
    assert "<details" in row and "<summary>" in row
    full = re.search(r"<div class=\"mono pre-wrap\" data-error-full>(.*?)</div>", row, re.S).group(1)
    assert "password authentication failed for user &quot;shop&quot;" in full
    assert full.count("password authentication failed") == 2  # both lines, nothing cut


def test_a_short_error_is_shown_as_it_is_without_a_fold(world):
    backup = failed_backup(world, "no enabled destination")
    html = world.client_for(world.viewer).get(reverse("databases:detail", args=[world.database.pk])).content
    row = fold_of(html.decode(), backup.pk)
    assert "no enabled destination" in row and '<details class="error-text' not in row


def test_the_backup_page_shows_the_whole_error_and_each_copys_reason(world):
    backup = failed_backup(world, LONG_ERROR)
    reason = "Cannot write to /backups/primary: [Errno 28] No space left on device " + "x" * 300
    BackupCopy.objects.create(
        backup=backup,
        destination=world.destination,
        destination_name="primary",
        status="failed",
        error=reason,
    )
    html = world.client_for(world.viewer).get(reverse("backups:detail", args=[backup.pk])).content.decode()
    assert html.count("password authentication failed for user &quot;shop&quot;") == 2
    assert reason in html


def test_a_long_notification_error_is_folded_not_cut(world):
    from apps.notifications.models import NotificationChannel, NotificationLog

    error = "Delivery failed: " + "the receiver said no " * 20 + "because the token expired"
    channel = NotificationChannel.objects.create(
        group=world.group, kind="email", target="ops@example.com", events=["failed"]
    )
    NotificationLog.objects.create(channel=channel, event="failed", status="failed", last_error=error)
    html = world.client_for(world.owner).get(reverse("groups:detail", args=[world.group.pk])).content
    assert "because the token expired" in html.decode()


@pytest.mark.servers
def test_a_failed_pg_dump_shows_the_tools_stderr_tail_without_the_password(
    world, pg_server, pg_database, make_database, make_destination
):
    from tests.backups.test_runner import pg_db

    secret = "Wr0ng-Secret-For-The-Page-42"
    source = pg_db(make_database, pg_server, pg_database("bm_err"), password=secret)
    make_destination(source)
    backup = runner.run_backup(Backup.objects.create(database=source))
    assert backup.status == Backup.Status.FAILED
    client = world.client_for(world.owner)
    page = client.get(reverse("databases:detail", args=[source.pk])).content.decode()
    row = fold_of(page, backup.pk)
    assert "password authentication failed" in row and secret not in page
    detail = client.get(reverse("backups:detail", args=[backup.pk])).content.decode()
    assert "pg_dump" in detail and "password authentication failed" in detail and secret not in detail
