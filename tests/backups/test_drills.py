"""Restore drills, size anomalies and the empty-dump floor, on real SQLite files (and PostgreSQL under bin/test)."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.backups import retention, runner, services
from apps.backups.drill import run_drill
from apps.backups.models import Backup, Drill
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.schedules import worker
from tests.backups.conftest import make_sqlite_file
from tests.backups.test_pipeline import BytesDump
from tests.backups.test_runner import FakeEngine, files_in, pg_db


@pytest.fixture
def target(make_database, tmp_path):
    """A scratch SQLite database of the same group, holding something a drill must remove."""
    path = make_sqlite_file(tmp_path / "scratch.sqlite3", rows=2)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE leftover (x)")
    return make_database(name="scratch", database_name=str(path))


@pytest.fixture
def backup(sqlite_database, make_destination, make_backup):
    make_destination(sqlite_database)
    backup = runner.run_backup(make_backup(sqlite_database))
    assert backup.status == "completed", backup.error
    return backup


def rows_in(path: str, table: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_a_backup_records_what_the_database_held(backup):
    rows = rows_in(backup.database.database_name, "items")
    assert rows > 0
    assert backup.inventory == {"tables": {"items": rows}, "exact": True}


def test_a_drill_restores_into_the_scratch_target_checks_it_and_empties_it(backup, target, user):
    drill = services.request_drill(backup, target, user)
    drill = run_drill(drill)

    assert drill.status == Drill.Status.PASSED, (drill.error, drill.checks)
    assert [(c["name"], c["ok"]) for c in drill.checks] == [
        ("target emptied before", True),
        ("restore reported no error", True),
        ("tables present", True),
        ("rows in items", True),
        ("target emptied after", True),
    ]
    assert (
        drill.checks[3]["expected"]
        == drill.checks[3]["actual"]
        == rows_in(backup.database.database_name, "items")
    )
    with sqlite3.connect(target.database_name) as db:  # emptied after: the scratch holds nothing
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone() == (0,)
    assert services.last_proven_restorable(backup.database).pk == drill.pk


def test_a_drill_fails_when_rows_are_missing_and_notifies(backup, target, group):
    NotificationChannel.objects.create(
        group=group, kind="webhook", target="http://127.0.0.1:9/h", events=["drill_failed"]
    )
    recorded = {**backup.inventory["tables"], "orders": 7}  # a table the restore does not bring back
    Backup.objects.filter(pk=backup.pk).update(inventory={"tables": recorded, "exact": True})
    backup.refresh_from_db()

    drill = run_drill(services.request_drill(backup, target))

    assert drill.status == Drill.Status.FAILED
    assert drill.error == "Failed checks: tables present"
    present = next(c for c in drill.checks if c["name"] == "tables present")
    assert (present["expected"], present["actual"]) == (["items", "orders"], ["items"])
    entry = NotificationLog.objects.get()
    assert entry.event == "drill_failed" and f"drill #{drill.pk}" in entry.payload["error"]


def test_a_drill_never_targets_the_source_another_group_or_engine(backup, make_database, group, tmp_path):
    with pytest.raises(ValidationError, match="must be another database"):
        services.request_drill(backup, backup.database)
    other = make_database(name="pg", engine="postgresql", database_name="x", host="127.0.0.1")
    with pytest.raises(ValidationError, match="must be a sqlite database"):
        services.request_drill(backup, other)
    assert not Drill.objects.exists()


def test_a_schedule_with_a_drill_target_drills_each_completed_backup(
    sqlite_database, make_destination, make_schedule, target
):
    make_destination(sqlite_database)
    schedule = make_schedule(sqlite_database)
    schedule.drill_target = target
    schedule.full_clean()
    schedule.save()
    backup = Backup.objects.create(database=sqlite_database, schedule=schedule, trigger="scheduled")
    runner.run_backup(backup)

    drill = Drill.objects.get()
    assert (drill.backup_id, drill.target_database_id, drill.status) == (backup.pk, target.pk, "pending")
    [claimed] = worker.claim_due(timezone.now(), "w", limit=1)
    assert (claimed.kind, claimed.pk) == ("drill", drill.pk)
    worker.run_job(claimed.kind, claimed.pk)
    assert Drill.objects.get().status == "passed"


def test_a_drill_target_that_is_the_source_is_refused_by_the_schedule(sqlite_database, make_schedule):
    schedule = make_schedule(sqlite_database)
    schedule.drill_target = sqlite_database
    with pytest.raises(ValidationError, match="must be another database"):
        schedule.full_clean()


@pytest.mark.servers
def test_a_postgresql_drill_passes_with_exact_counts_against_estimates(
    pg_server, pg_database, make_database, make_destination, make_backup
):
    source_name, target_name = pg_database("bm_drill_src"), pg_database("bm_drill_dst")
    conn = pg_database.connect(source_name)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int primary key, v text)")
        cur.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g")
        cur.execute("ANALYZE t")
    conn.close()
    source = pg_db(make_database, pg_server, source_name)
    target = pg_db(make_database, pg_server, target_name)
    make_destination(source)
    backup = runner.run_backup(make_backup(source))
    assert backup.status == "completed", backup.error
    assert backup.inventory == {"tables": {"t": 5000}, "exact": False}

    drill = run_drill(services.request_drill(backup, target))

    assert drill.status == "passed", (drill.error, drill.checks)
    rows = next(c for c in drill.checks if c["name"] == "rows in t")
    assert (rows["expected"], rows["actual"]) == ("≈5000 (estimate)", 5000)


# -- anomalies and the empty-dump floor -----------------------------------------------------


def test_a_backup_far_smaller_than_the_recent_median_is_flagged_notified_and_not_trusted(
    backup, make_backup, group, make_schedule
):
    database = backup.database
    NotificationChannel.objects.create(
        group=group, kind="webhook", target="http://127.0.0.1:9/h", events=["anomaly"]
    )
    for _ in range(3):
        runner.run_backup(make_backup(database))
    db = sqlite3.connect(database.database_name, isolation_level=None)
    db.execute("DELETE FROM items")
    db.execute("VACUUM")
    db.close()
    shrunk = runner.run_backup(make_backup(database))

    assert shrunk.status == "completed"
    assert "× the median" in shrunk.anomaly and "smaller than expected" in shrunk.anomaly
    assert NotificationLog.objects.get(event="anomaly").backup_id == shrunk.pk
    # Until accepted it is not "the newest good backup": retention keeps the older good ones.
    schedule = make_schedule(database, keep_last=1)
    Backup.objects.filter(database=database).update(schedule=schedule, trigger="scheduled")
    Backup.objects.filter(pk=shrunk.pk).update(created_at=timezone.now() + timedelta(seconds=1))
    plan = retention.plan(schedule)
    newest_good = max(Backup.objects.exclude(pk=shrunk.pk), key=lambda b: (b.created_at, b.pk))
    assert any(d.backup_id == newest_good.pk and "newest completed" in d.reason for d in plan.keep)


def test_a_dump_below_the_engines_floor_fails_and_leaves_no_file(
    sqlite_database, make_destination, make_backup, monkeypatch
):
    dest = make_destination(sqlite_database)
    engine = FakeEngine(make_stream=lambda: BytesDump(b""))
    engine.empty_dump_floor = 512
    monkeypatch.setattr(runner, "get_engine", lambda name: engine)

    backup = runner.run_backup(make_backup(sqlite_database))

    assert backup.status == "failed"
    assert backup.error.startswith("The dump has only 0 bytes, fewer than any sqlite dump (at least 512)")
    assert files_in(Path(dest.path)) == []


def test_the_database_page_shows_when_it_was_last_proven_restorable(backup, target, client, user):
    client.force_login(user)
    page = client.get(f"/databases/{backup.database_id}/").content.decode()
    assert "Never proven restorable by a drill yet." in page
    drill = run_drill(services.request_drill(backup, target))
    page = client.get(f"/databases/{backup.database_id}/").content.decode()
    assert f"(drill #{drill.pk} of backup #{backup.pk})" in page
    assert "Last proven restorable:" in page


def test_the_dashboard_counts_the_databases_proven_restorable_in_30_days(backup, target, client, user):
    client.force_login(user)

    def proven() -> tuple[int, int]:
        page = client.get("/").content.decode()
        found = re.search(r'data-stat="proven"><span class="value">(\d+)/(\d+)<', page)
        assert found, page
        return int(found[1]), int(found[2])

    none, total = proven()
    assert none == 0 and total >= 2  # the source and the scratch target
    run_drill(services.request_drill(backup, target))
    assert proven() == (1, total)  # the source now counts
