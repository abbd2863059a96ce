"""Dashboard and backup pages: run now, live activity, verify, download, delete, restore."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.backups.models import Backup, Restore
from apps.schedules import worker
from tests.ui.world import assert_access, world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_backup_pages_answer_members_and_hide_from_outsiders(world):
    b = world.backup.pk
    assert_access(world, reverse("backups:detail", args=[b]))
    assert_access(world, reverse("backups:activity", args=[world.database.pk]))
    assert_access(world, reverse("backups:restore", args=[b]), world.operator, forbidden=[world.viewer])
    assert_access(
        world,
        reverse("backups:delete", args=[b]) + "?files=1",
        world.owner,
        forbidden=[world.operator, world.viewer],
    )
    assert_access(world, reverse("backups:download", args=[b]), world.operator, forbidden=[world.viewer])


def test_the_dashboard_shows_counts_rates_the_per_day_chart_and_the_next_runs(world, make_database):
    make_database(name="never-backed-up")
    response = world.client_for(world.viewer).get(reverse("backups:dashboard"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "success, 7 days (1/1)" in html and "100%" in html
    assert "<svg" in html and "<rect" in html
    # The size of every database as one line is gone from the dashboard (issue 12, item 9).
    assert "<polyline" not in html
    assert "nightly" in html  # next scheduled runs
    assert world.client_for(None).get(reverse("backups:dashboard")).status_code == 302
    outsider = world.client_for(world.outsider).get(reverse("backups:dashboard")).content.decode()
    assert "orders" not in outsider


def test_run_now_queues_a_pending_backup_for_operators(world):
    url = reverse("backups:run", args=[world.database.pk])
    response = world.client_for(world.operator).post(url, follow=True)
    backup = Backup.objects.filter(status="pending").get()
    assert backup.trigger == "manual" and backup.requested_by == world.operator
    html = response.content.decode()
    assert f"Backup #{backup.pk} of orders queued for 1 destination" in html
    assert 'data-active="true"' in html  # the page polls while it runs
    assert world.client_for(world.viewer).post(url).status_code == 403
    assert world.client_for(world.outsider).post(url).status_code == 404
    assert world.client_for(world.operator).get(url).status_code == 405
    assert Backup.objects.filter(status="pending").count() == 1


def test_run_now_without_an_enabled_destination_says_what_to_do(world):
    world.destination.enabled = False
    world.destination.save()
    response = world.client_for(world.owner).post(
        reverse("backups:run", args=[world.database.pk]), follow=True
    )
    assert "has no enabled destination" in response.content.decode()
    assert not Backup.objects.filter(status="pending").exists()


def test_the_activity_fragment_shows_progress_and_stops_polling_when_done(world):
    running = Backup.objects.create(database=world.database, status="in_progress", bytes_done=3 * 1024 * 1024)
    from django.utils import timezone

    running.started_at = timezone.now()
    running.save()
    html = (
        world.client_for(world.viewer)
        .get(reverse("backups:activity", args=[world.database.pk]))
        .content.decode()
    )
    assert 'data-active="true"' in html and "3.0 MB" in html
    running.mark_finished("completed")
    html = (
        world.client_for(world.viewer)
        .get(reverse("backups:activity", args=[world.database.pk]))
        .content.decode()
    )
    assert "data-active" not in html


def run_queued_verification():
    [claimed] = worker.claim_due(timezone.now(), "w", limit=1)
    assert claimed.kind == "verification"
    worker.run_job(claimed.kind, claimed.pk)


def test_verify_marks_a_missing_file_and_the_page_shows_the_warning_and_banner(world):
    world.file.unlink()
    client = world.client_for(world.operator)
    response = client.post(reverse("backups:verify", args=[world.backup.pk]), follow=True)
    assert f"Verification of backup #{world.backup.pk} queued" in response.content.decode()
    world.copy.refresh_from_db()
    assert world.copy.verify_status == ""  # nothing was read inside the request
    run_queued_verification()
    html = client.get(reverse("databases:detail", args=[world.backup.database_id])).content.decode()
    world.copy.refresh_from_db()
    assert world.copy.verify_status == "missing"
    assert "1 of 1 copies have a problem" in html
    assert "data-missing-banner" in html and 'data-copy="missing"' in html and "⚠" in html
    assert (
        world.client_for(world.viewer).post(reverse("backups:verify", args=[world.backup.pk])).status_code
        == 403
    )


def test_verify_of_an_intact_backup_says_its_copy_matches(world):
    client = world.client_for(world.operator)
    client.post(reverse("backups:verify", args=[world.backup.pk]))
    run_queued_verification()
    html = client.get(reverse("databases:detail", args=[world.backup.database_id])).content.decode()
    assert f"Backup #{world.backup.pk} verified: its copy matches the recorded size and sha256." in html
    assert "data-missing-banner" not in html


def test_download_streams_the_file_whole_or_per_destination(world):
    client = world.client_for(world.operator)
    for query in ("", f"?destination={world.destination.pk}"):
        response = client.get(reverse("backups:download", args=[world.backup.pk]) + query)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == world.file.read_bytes()
        assert response["Content-Length"] == str(world.file.stat().st_size)
        assert world.file.name in response["Content-Disposition"]


def test_download_of_a_missing_copy_explains_why(world):
    world.file.unlink()
    response = world.client_for(world.operator).get(
        reverse("backups:download", args=[world.backup.pk]), follow=True
    )
    assert (
        "Download of backup" in response.content.decode() and "is not possible" in response.content.decode()
    )


def test_the_delete_confirmation_says_whether_files_go_too(world):
    client = world.client_for(world.owner)
    with_files = client.get(reverse("backups:delete", args=[world.backup.pk]) + "?files=1").content.decode()
    assert "This deletes the record and its files." in with_files and str(world.file) in with_files
    record_only = client.get(reverse("backups:delete", args=[world.backup.pk]) + "?files=0").content.decode()
    assert "This deletes the record only." in record_only and "The files stay on disk" in record_only


def test_deleting_the_record_only_keeps_the_file(world):
    response = world.client_for(world.owner).post(
        reverse("backups:delete", args=[world.backup.pk]), {"delete_files": "0"}, follow=True
    )
    assert not Backup.objects.filter(pk=world.backup.pk).exists()
    assert world.file.exists()
    assert "record deleted; its files stay on disk" in response.content.decode()


def test_deleting_with_files_removes_them_and_operators_may_not(world):
    url = reverse("backups:delete", args=[world.backup.pk])
    assert world.client_for(world.operator).post(url, {"delete_files": "1"}).status_code == 403
    assert world.file.exists()
    response = world.client_for(world.owner).post(url, {"delete_files": "1"}, follow=True)
    assert not Backup.objects.filter(pk=world.backup.pk).exists()
    assert not world.file.exists()
    assert f"Backup #{world.backup.pk} and its files deleted" in response.content.decode()


def test_restore_needs_the_target_name_typed_and_then_queues_it(world):
    url = reverse("backups:restore", args=[world.backup.pk])
    client = world.client_for(world.operator)
    wrong = client.post(url, {"target": world.database.pk, "confirm": "orders"})
    assert wrong.status_code == 400
    assert "Type the target" in wrong.content.decode()
    assert Restore.objects.filter(status="pending").count() == 0
    response = client.post(
        url, {"target": world.database.pk, "confirm": world.database.database_name}, follow=True
    )
    restore = Restore.objects.get(status="pending")
    assert restore.target_database == world.database and restore.requested_by == world.operator
    assert (
        f"Restore #{restore.pk} of backup #{world.backup.pk} into orders queued" in response.content.decode()
    )
    assert (
        world.client_for(world.viewer)
        .post(url, {"target": world.database.pk, "confirm": world.database.database_name})
        .status_code
        == 403
    )


def test_restore_offers_only_databases_of_the_same_engine(world, make_database):
    make_database(name="pg-target", engine="postgresql", host="h", database_name="x")
    html = (
        world.client_for(world.owner).get(reverse("backups:restore", args=[world.backup.pk])).content.decode()
    )
    assert "orders" in html and "pg-target" not in html


EXTERNAL = re.compile(r"""(?:src|href|action|xlink:href)\s*=\s*["']\s*(?:https?:)?//""", re.I)
CSS_URL = re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.I)


def test_no_page_references_another_host(world, settings, backup_root):
    """Scripts, styles, fonts and images all come from this app (closed networks have no CDN)."""
    from pathlib import Path

    b, d = world.backup.pk, world.database.pk
    owner = world.client_for(world.owner)
    pages = [
        reverse("backups:dashboard"),
        reverse("groups:list"),
        reverse("groups:create"),
        reverse("groups:detail", args=[world.group.pk]),
        reverse("groups:update", args=[world.group.pk]),
        reverse("databases:list"),
        reverse("databases:create"),
        reverse("databases:detail", args=[d]),
        reverse("databases:update", args=[d]),
        reverse("databases:delete", args=[d]),
        reverse("destinations:create", args=[d]),
        reverse("destinations:update", args=[world.destination.pk]),
        reverse("schedules:list"),
        reverse("schedules:create") + f"?database={d}",
        reverse("schedules:update", args=[world.schedule.pk]),
        reverse("backups:detail", args=[b]),
        reverse("backups:restore", args=[b]),
        reverse("backups:delete", args=[b]) + "?files=1",
        reverse("backups:activity", args=[d]),
        reverse("destinations:browse", args=[d]),
    ]
    for url in pages:
        html = owner.get(url).content.decode()
        assert not EXTERNAL.search(html), url
        assert not CSS_URL.search(html), url
    anonymous = world.client_for(None)
    for url in (reverse("accounts:login"), reverse("accounts:register")):
        assert not EXTERNAL.search(anonymous.get(url).content.decode()), url
    static = Path(settings.BASE_DIR) / "static"
    for path in static.rglob("*"):
        if path.suffix in {".css", ".js", ".html", ".svg"}:
            text = path.read_text(errors="replace")
            assert not CSS_URL.search(text), path
            assert not EXTERNAL.search(text), path
            assert not re.search(r"""(?:@import|fetch\(|\.open\()\s*["'](?:https?:)?//""", text, re.I), path


def test_the_restore_page_says_exactly_what_a_restore_changes_for_the_engine(world):
    html = (
        world.client_for(world.operator)
        .get(reverse("backups:restore", args=[world.backup.pk]))
        .content.decode()
    )
    assert "What this restore changes in the target:" in html
    assert "The whole database file is replaced by the backup" in html  # the world's database is SQLite
    assert "current data will be replaced" not in html
