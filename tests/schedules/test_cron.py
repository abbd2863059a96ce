from datetime import datetime, timezone

import pytest

from apps.schedules import cron

UTC = timezone.utc


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("interval, expr", list(cron.PRESETS.items()))
def test_presets_map_to_the_documented_expressions(interval, expr):
    assert cron.expression_for(interval, None) == expr


@pytest.mark.parametrize(
    "expr, message",
    [
        ("* * * * * *", "exactly 5 fields"),
        ("* * * *", "exactly 5 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("* 24 * * *", "not a valid cron expression"),
        ("0 0 31 2 *", "never runs"),
        ("", "empty"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expr, message):
    with pytest.raises(cron.CronError, match=message):
        cron.next_run_after(expr, "UTC", utc(2026, 1, 1))


def test_unknown_timezones_are_refused():
    with pytest.raises(cron.CronError, match="not a known IANA timezone"):
        cron.validate_timezone("Mars/Olympus")


def test_next_run_is_strictly_after_the_given_time():
    assert cron.next_run_after("0 * * * *", "UTC", utc(2026, 5, 1, 10, 0)) == utc(2026, 5, 1, 11, 0)


def test_daily_0230_in_rome_stays_at_0230_local_across_both_dst_changes():
    runs = cron.next_runs("30 2 * * *", "Europe/Rome", utc(2026, 3, 27, 12), 4)
    # 28 Mar CET (+1); 29 Mar 02:30 does not exist -> 03:00 CEST (+2) = 01:00 UTC; then CEST.
    assert runs == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]
    autumn = cron.next_runs("30 2 * * *", "Europe/Rome", utc(2026, 10, 23, 12), 4)
    # 25 Oct 02:30 happens twice: the job runs once, at the first (CEST) one.
    assert autumn == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
        utc(2026, 10, 27, 1, 30),
    ]


def test_hourly_runs_every_real_hour_across_both_dst_changes():
    spring = cron.next_runs("0 * * * *", "Europe/Rome", utc(2026, 3, 28, 22, 30), 6)
    assert spring == [
        utc(2026, 3, 28, 23),
        utc(2026, 3, 29, 0),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
        utc(2026, 3, 29, 3),
        utc(2026, 3, 29, 4),
    ]
    autumn = cron.next_runs("0 * * * *", "Europe/Rome", utc(2026, 10, 24, 22, 30), 6)
    assert autumn == [
        utc(2026, 10, 24, 23),
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 1),
        utc(2026, 10, 25, 2),
        utc(2026, 10, 25, 3),
        utc(2026, 10, 25, 4),
    ]


def test_feb_29_runs_only_in_leap_years():
    assert cron.next_runs("0 12 29 2 *", "UTC", utc(2026, 1, 1), 2) == [
        utc(2028, 2, 29, 12),
        utc(2032, 2, 29, 12),
    ]


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        cron.next_run_after("* * * * *", "UTC", datetime(2026, 1, 1))
