"""The expected interval exported per database: the longest gap between a schedule's next runs."""

from __future__ import annotations

from datetime import datetime, timezone

from apps.metrics.collector import schedule_interval_seconds

MONDAY = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def test_an_hourly_rule_expects_an_hour():
    assert schedule_interval_seconds("0 * * * *", "UTC", MONDAY) == 3600


def test_a_weekdays_only_rule_expects_the_weekend_gap_not_one_day():
    assert schedule_interval_seconds("0 2 * * 1-5", "UTC", MONDAY) == 3 * 86400


def test_a_daily_rule_across_the_autumn_change_expects_the_long_day():
    # Europe/Rome falls back on 2026-10-25: that day lasts 25 hours.
    before_change = datetime(2026, 10, 22, 12, 0, tzinfo=timezone.utc)
    assert schedule_interval_seconds("30 2 * * *", "Europe/Rome", before_change) == 25 * 3600


def test_a_rule_that_cannot_be_computed_gives_none():
    assert schedule_interval_seconds("not a cron", "UTC", MONDAY) is None
    assert schedule_interval_seconds("0 * * * *", "Mars/Base", MONDAY) is None
