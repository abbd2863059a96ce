"""The database page's chart: this database's last backups only (size and duration), bounded to the
newest 60 by the (database, created_at) index, with every value in a table."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.backups.database_chart import CHART_BACKUPS, database_chart
from apps.backups.models import Backup
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def backups(database, n: int, *, size=lambda i: 1000 + i, status=lambda i: "completed", start=T0):
    made = []
    for i in range(n):
        at = start + timedelta(hours=i)
        made.append(
            Backup.objects.create(
                database=database,
                status=status(i),
                created_at=at,
                started_at=at,
                finished_at=at + timedelta(seconds=10 + i),
                size_bytes=None if status(i) == "failed" else size(i),
            )
        )
    return made


def test_the_chart_reads_only_this_databases_newest_backups_in_one_query(world, make_database):
    Backup.objects.all().delete()
    other = make_database(name="huge")
    backups(other, 5, size=lambda i: 4_400_000_000)
    made = backups(world.database, CHART_BACKUPS + 10)
    with CaptureQueriesContext(connection) as ctx:
        chart = database_chart(world.database)
    assert len(ctx.captured_queries) == 1
    assert "ORDER BY" in ctx.captured_queries[0]["sql"] and "LIMIT 60" in ctx.captured_queries[0]["sql"]
    assert [r["id"] for r in chart.rows] == [b.pk for b in reversed(made[-CHART_BACKUPS:])]
    assert all(r["size_bytes"] < 2000 for r in chart.rows)  # the other database's 4 GB are not here
    assert chart.size.summary.startswith("Size of the last 60 backups: from 1010 B to 1.0 KB")
    assert "newest 1.0 KB" in chart.size.summary
    assert (
        chart.duration.summary
        == "Duration of the last 60 backups: from 20 s to 1 min 19 s, newest 1 min 19 s."
    )


def test_points_follow_time_and_failed_backups_are_marked(world):
    Backup.objects.all().delete()
    backups(
        world.database, 5, size=lambda i: (i + 1) * 1024, status=lambda i: "failed" if i == 2 else "completed"
    )
    chart = database_chart(world.database)
    xs = [float(p.split(",")[0]) for p in chart.size.points.split()]
    ys = [float(p.split(",")[1]) for p in chart.size.points.split()]
    assert len(xs) == 4 and xs == sorted(xs) and xs[0] == 10.0 and xs[-1] == 990.0
    assert ys == sorted(ys, reverse=True)  # growing sizes climb
    assert chart.failed_x == ["500.0"]  # the middle of five evenly spaced backups
    assert [text for _, text, _ in chart.x_labels] == ["00:00", "02:00", "04:00"]


def test_the_page_draws_both_series_with_a_table_of_every_value(world):
    Backup.objects.all().delete()
    made = backups(world.database, 3, size=lambda i: 2_000_000 * (i + 1))
    html = world.client_for(world.viewer).get(reverse("databases:detail", args=[world.database.pk])).content
    html = html.decode()
    assert 'data-db-chart="chart-size"' in html and 'data-db-chart="chart-duration"' in html
    assert 'role="img" aria-labelledby="chart-size-title chart-size-desc"' in html
    assert "Size of the last 3 backups: from 1.9 MB to 5.7 MB, newest 5.7 MB." in html
    table = re.search(r"<details class=\"chart-values\".*?</details>", html, re.S).group(0)
    for b in made:
        assert f"#{b.pk}" in table
    assert "5.7 MB" in table and "12 s" in table
    assert 'viewBox="0 0 1000 100" preserveAspectRatio="none"' in html  # only the lines stretch
    assert 'class="axis" x="2"' in html  # labels outside the stretched drawing


def test_a_database_without_finished_backups_says_so(world):
    Backup.objects.all().delete()
    Backup.objects.create(database=world.database, status="pending")
    html = world.client_for(world.viewer).get(reverse("databases:detail", args=[world.database.pk])).content
    assert "No finished backups yet: the chart starts with the first one." in html.decode()
