"""Destination health on the database page: each destination's last copy, last verify and free space,
red when the last copy or the last verify failed, and no query per destination."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.backups.destination_health import health_of, with_health
from apps.backups.models import Backup, BackupCopy
from apps.destinations.models import Destination
from apps.destinations.storage import get_storage
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def page(world, user=None) -> str:
    client = world.client_for(user or world.viewer)
    return client.get(reverse("databases:detail", args=[world.database.pk])).content.decode()


def row_of(html: str, dest: Destination) -> str:
    match = re.search(rf'<tr id="destination-{dest.pk}".*?</tr>', html, re.S)
    assert match, f"no row for destination {dest.pk}"
    return match.group(0)


def copy_at(dest: Destination, status: str, *, error: str = "", minutes_ago: int = 0, **fields) -> BackupCopy:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    backup = Backup.objects.create(
        database=dest.database,
        status="completed" if status == "completed" else "failed",
        created_at=at,
        finished_at=at,
    )
    return BackupCopy.objects.create(
        backup=backup, destination=dest, destination_name=dest.name, status=status, error=error, **fields
    )


def test_a_healthy_folder_shows_its_last_copy_last_verify_and_free_space(world):
    # The world's backup has a saved copy at "primary"; verify it.
    BackupCopy.objects.filter(pk=world.copy.pk).update(verify_status="ok", verified_at=timezone.now())
    row = row_of(page(world), world.destination)
    assert 'data-health="ok"' in row and 'class="badge enabled"' in row
    assert 'data-last-copy="completed"' in row and f"#{world.backup.pk}" in row
    assert 'data-last-verify="ok"' in row and "intact" in row
    free = int(re.search(r'data-free-bytes="(\d+)"', row).group(1))
    assert abs(free - shutil.disk_usage(world.destination.path).free) < 64 * 1024 * 1024
    assert get_storage(world.destination).free_bytes() is not None


def test_a_folder_whose_last_copy_failed_is_red_with_the_reason(world):
    copy_at(
        world.destination, "failed", error="Cannot write to the folder: [Errno 28] No space left on device"
    )
    row = row_of(page(world), world.destination)
    assert 'data-health="failing"' in row and "data-failing" in row and "last copy failed" in row
    assert 'class="badge enabled"' not in row
    assert "No space left on device" in row


def test_a_folder_whose_last_verify_found_a_missing_file_is_red(world):
    BackupCopy.objects.filter(pk=world.copy.pk).update(
        verify_status="missing", verify_message="The file is gone", verified_at=timezone.now()
    )
    row = row_of(page(world), world.destination)
    assert 'data-health="failing"' in row and "last verify failed" in row and "The file is gone" in row


def test_a_later_good_copy_and_verify_turn_it_green_again(world):
    copy_at(world.destination, "failed", error="boom", minutes_ago=10)
    copy_at(world.destination, "completed", verify_status="ok", verified_at=timezone.now())
    row = row_of(page(world), world.destination)
    assert 'data-health="ok"' in row and 'class="badge enabled"' in row


def test_in_progress_copies_do_not_count_and_a_new_destination_has_no_history(world, make_destination):
    fresh = make_destination(world.database, name="fresh")
    copy_at(fresh, "in_progress")
    row = row_of(page(world), fresh)
    assert 'data-health="unknown"' in row and "no copy yet" in row and "never verified" in row


def test_an_s3_destination_has_no_free_space_figure(world):
    s3 = Destination(database=world.database, name="bucket", kind="s3", bucket="b")
    assert get_storage(s3).free_bytes() is None


def test_a_missing_folder_has_no_free_space_rather_than_an_error(world, tmp_path):
    gone = Destination(database=world.database, name="gone", kind="local", path=str(tmp_path / "no" / "such"))
    assert get_storage(gone).free_bytes() is None


def test_health_reads_every_destination_in_one_query(world, make_destination):
    for i in range(5):
        dest = make_destination(world.database, name=f"d{i}")
        copy_at(dest, "failed" if i % 2 else "completed", error="x")
    with CaptureQueriesContext(connection) as ctx:
        rows = health_of(with_health(world.database.destinations.order_by("name")))
    assert len(rows) == 6 and len(ctx.captured_queries) == 1
    assert [d.failing for d in rows if d.name.startswith("d")] == [False, True, False, True, False]


def test_the_database_page_costs_the_same_queries_for_1_or_6_destinations(world, make_destination):
    client = world.client_for(world.owner)
    url = reverse("databases:detail", args=[world.database.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(5):
        dest = make_destination(world.database, name=f"extra{i}")
        copy_at(dest, "failed", error="x", verify_status="corrupt", verified_at=timezone.now())
    with CaptureQueriesContext(connection) as many:
        html = client.get(url).content.decode()
    assert html.count('data-health="failing"') == 5
    assert len(many) == len(few), [q["sql"][:200] for q in many.captured_queries]
