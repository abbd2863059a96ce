"""`manage.py seed_catalogue`: a large catalogue by bulk inserts, for benchmarks."""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from apps.backups.models import Backup, BackupCopy
from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.groups import locations
from apps.schedules.models import Schedule

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_catalogue", *args, stdout=out)
    return out.getvalue()


def test_it_seeds_the_asked_numbers_and_prints_the_time_it_took():
    output = seed("--databases", "45", "--backups", "900")
    assert "45 databases" in output and "900 backups" in output
    assert output.rstrip().endswith(" s")
    assert Database.objects.count() == 45
    assert Database.objects.values("group").distinct().count() == 3
    assert Backup.objects.count() == 900
    assert Schedule.objects.count() == 45


def test_backups_span_a_year_with_mostly_completed_some_partial_and_failed_and_nothing_queued():
    seed("--databases", "20", "--backups", "2000")
    statuses = dict(Backup.objects.values_list("status").annotate(n=Count("id")))
    assert set(statuses) == {"completed", "partial", "failed"}
    assert statuses["completed"] > 0.85 * 2000
    assert statuses["partial"] > 0 and statuses["failed"] > 0
    now = timezone.now()
    oldest = Backup.objects.order_by("created_at").first().created_at
    assert 360 <= (now - oldest).days <= 365
    assert Backup.objects.filter(created_at__gt=now).count() == 0
    assert not Schedule.objects.filter(next_run_at__lte=now).exists()


def test_every_backup_has_one_or_two_copies_that_match_its_status():
    seed("--databases", "12", "--backups", "600")
    per_backup = Backup.objects.annotate(n=Count("copies")).values_list("n", flat=True)
    assert set(per_backup) <= {1, 2} and set(per_backup) == {1, 2}
    for backup in Backup.objects.filter(status="partial").prefetch_related("copies"):
        assert {c.status for c in backup.copies.all()} == {"completed", "failed"}
    assert not BackupCopy.objects.filter(backup__status="failed", status="completed").exists()
    assert not BackupCopy.objects.filter(backup__status="completed").exclude(status="completed").exists()


def test_sqlite_databases_and_local_destinations_lie_in_their_group_s_folders():
    seed("--databases", "10", "--backups", "10")
    engines = set(Database.objects.values_list("engine", flat=True))
    assert engines == {"sqlite", "postgresql"}
    for db in Database.objects.filter(engine="sqlite"):
        folder = locations.default_paths(db.group_id, locations.SQLITE)[0]
        assert os.path.dirname(db.database_name) == folder
    for dest in Destination.objects.filter(kind="local").select_related("database"):
        folder = locations.default_paths(dest.database.group_id, locations.BACKUPS)[0]
        assert os.path.dirname(dest.path) == folder


def test_it_refuses_a_catalogue_that_is_not_empty_unless_forced():
    seed("--databases", "2", "--backups", "4")
    with pytest.raises(CommandError, match="already has databases"):
        seed("--databases", "2", "--backups", "4")
    assert Backup.objects.count() == 4
    seed("--databases", "2", "--backups", "4", "--force")
    assert (Database.objects.count(), Backup.objects.count()) == (4, 8)


def test_nonsense_numbers_are_refused():
    with pytest.raises(CommandError, match="--databases"):
        seed("--databases", "0", "--backups", "4")
