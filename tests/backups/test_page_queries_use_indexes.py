"""On PostgreSQL, the database page's new reads can be answered by indexes (sequential scans
switched off, so the plan shows whether an index fits at all): destination health by the copy
indexes, the chart by an index on database_id, a schedule's last result by its runs' unique pair."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.backups.database_chart import FINISHED
from apps.backups.destination_health import with_health
from apps.backups.models import Backup
from apps.schedules.context import with_last_result
from apps.schedules.models import Schedule
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def explain():
    if connection.vendor != "postgresql":
        pytest.skip("index plans are checked on the PostgreSQL pass")

    def plan(queryset) -> str:
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute(f"EXPLAIN {sql}", params)
            return "\n".join(row[0] for row in cur.fetchall())

    return plan


def test_destination_health_reads_the_copy_indexes(world, explain):
    plan = explain(with_health(world.database.destinations.order_by("name")))
    assert "copy_dest_newest_idx" in plan, plan
    assert "copy_dest_verified_idx" in plan, plan


def test_the_chart_reads_the_database_created_index(world, explain):
    query = (
        Backup.objects.filter(database=world.database, status__in=FINISHED)
        .order_by("-created_at")
        .values("id", "created_at", "size_bytes")[:60]
    )
    plan = explain(query)
    # On a test-sized table the planner may pick either index that starts with database_id (the
    # composite one or the foreign key's, then a sort); either reads only this database's rows.
    assert "Seq Scan" not in plan and "Index Cond: (database_id = " in plan, plan
    assert "backup_db_created_idx" in plan or "backups_backup_database_id" in plan, plan


def test_a_schedules_last_result_reads_its_runs_by_the_unique_pair(world, explain):
    plan = explain(with_last_result(Schedule.objects.filter(pk=world.schedule.pk)))
    assert "schedule_run_slot_uniq" in plan, plan
