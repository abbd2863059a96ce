"""GFS retention: the newest good backup of each of the last N hours, days, weeks, months, years.

A year of synthetic backups every 6 hours in Europe/Rome, across both DST changes of 2026
(29 March, 25 October), with one whole ISO week of failed runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from apps.backups import retention
from apps.backups.models import Backup, Restore

ROME = ZoneInfo("Europe/Rome")
C, P, F = Backup.Status.COMPLETED, Backup.Status.PARTIAL, Backup.Status.FAILED
# 2026-12-01 is a Tuesday (ISO week 49); the newest backup is Monday 30 November 22:30 UTC.
NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
FIRST = datetime(2025, 12, 1, 4, 30, tzinfo=UTC)
LAST = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
# The failed week: ISO 2026-W47 in Rome, Monday 16 to Sunday 22 November.
FAILED_FROM = datetime(2026, 11, 16, 0, 0, tzinfo=ROME)
FAILED_UNTIL = datetime(2026, 11, 23, 0, 0, tzinfo=ROME)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def year(series):
    """(schedule, {created_at: backup id}): backups at 04:30, 10:30, 16:30, 22:30 UTC for a year.

    22:30 UTC is 23:30 in Rome in winter but 00:30 of the next day in summer, so the zone decides
    which day, and which month, a summer evening's backup belongs to.
    """
    return series(FIRST)


@pytest.fixture
def series(make_database, make_schedule):
    """series(first) -> (schedule, {created_at: id}): a backup every 6 hours from `first` to LAST."""
    return lambda first: _series(make_database, make_schedule, first)


def _series(make_database, make_schedule, first):
    database = make_database()
    schedule = make_schedule(database, timezone="Europe/Rome")
    rows, at = [], first
    while at <= LAST:
        status = F if FAILED_FROM <= at < FAILED_UNTIL else C
        rows.append(
            Backup(
                database=database,
                schedule=schedule,
                trigger=Backup.Trigger.SCHEDULED,
                status=status,
                created_at=at,
                finished_at=at + timedelta(minutes=5),
            )
        )
        at += timedelta(hours=6)
    Backup.objects.bulk_create(rows, batch_size=500)
    by_time = dict(Backup.objects.filter(schedule=schedule).values_list("created_at", "id"))
    return schedule, by_time


def set_gfs(schedule, **counts):
    for name, value in counts.items():
        setattr(schedule, name, value)
    schedule.full_clean()
    schedule.save()


# What daily=7, weekly=4, monthly=12, yearly=2 keep, worked out by hand (UTC; Rome is +1 in winter,
# +2 from 29 March to 24 October).
EXPECTED = {
    # daily: the last 7 days in Rome, 23:30 local each (Monday 30 November is also weekly W49,
    # monthly 2026-11 and yearly 2026, and the newest completed backup of the database)
    "2026-11-30 22:30": "newest completed backup of the database",
    "2026-11-29 22:30": "daily 2026-11-29, weekly 2026-W48",
    "2026-11-28 22:30": "daily 2026-11-28",
    "2026-11-27 22:30": "daily 2026-11-27",
    "2026-11-26 22:30": "daily 2026-11-26",
    "2026-11-25 22:30": "daily 2026-11-25",
    "2026-11-24 22:30": "daily 2026-11-24",
    # weekly: W47 has only failed runs, so the 4 weeks that have one are W49, W48, W46, W45
    "2026-11-15 22:30": "weekly 2026-W46",
    "2026-11-08 22:30": "weekly 2026-W45",
    # monthly: in summer 22:30 UTC is already the 1st of the next month in Rome, so the newest
    # backup of a summer month is the 16:30 UTC one (18:30 local); after 25 October it is 23:30 again
    "2026-10-31 22:30": "monthly 2026-10",
    "2026-09-30 16:30": "monthly 2026-09",
    "2026-08-31 16:30": "monthly 2026-08",
    "2026-07-31 16:30": "monthly 2026-07",
    "2026-06-30 16:30": "monthly 2026-06",
    "2026-05-31 16:30": "monthly 2026-05",
    "2026-04-30 16:30": "monthly 2026-04",
    "2026-03-31 16:30": "monthly 2026-03",  # after the spring change, 31 March is +2
    "2026-02-28 22:30": "monthly 2026-02",
    "2026-01-31 22:30": "monthly 2026-01",
    "2025-12-31 22:30": "monthly 2025-12, yearly 2025",
}


def test_a_year_of_backups_keeps_exactly_the_daily_weekly_monthly_and_yearly_ones(year):
    schedule, by_time = year
    set_gfs(schedule, keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=2)
    plan = retention.plan(schedule, NOW)
    expected = {by_time[utc(at)]: reason for at, reason in EXPECTED.items()}
    assert {d.backup_id: d.reason for d in plan.keep} == expected
    assert len(plan.delete) == len(by_time) - len(expected) == 1460 - 20
    assert len(plan.delete) + len(plan.keep) == len(by_time)


def test_the_failed_week_is_skipped_and_its_records_go_by_the_failed_rule(year):
    schedule, by_time = year
    set_gfs(schedule, keep_weekly=4)
    plan = retention.plan(schedule, NOW)
    reasons = {d.backup_id: d.reason for d in plan.delete}
    failed_ids = set(Backup.objects.filter(schedule=schedule, status=F).values_list("id", flat=True))
    assert len(failed_ids) == 28
    assert all("failed record older than" in reasons[bid] for bid in failed_ids)
    kept = {d.backup_id: d.reason for d in plan.keep}
    assert kept[by_time[utc("2026-11-08 22:30")]] == "weekly 2026-W45"
    assert by_time[utc("2026-11-01 22:30")] in reasons  # W44 is the fifth week that has one


def test_the_same_counts_in_utc_keep_the_evening_backup_of_a_summer_month(year):
    schedule, by_time = year
    set_gfs(schedule, timezone="UTC", keep_monthly=12)
    kept = {d.backup_id: d.reason for d in retention.plan(schedule, NOW).keep}
    assert kept[by_time[utc("2026-09-30 22:30")]] == "monthly 2026-09"
    assert by_time[utc("2026-09-30 16:30")] not in kept


def test_the_iso_week_of_new_years_eve_is_named_by_its_iso_year(year):
    schedule, by_time = year
    set_gfs(schedule, keep_weekly=60)
    kept = {d.backup_id: d.reason for d in retention.plan(schedule, NOW).keep}
    # Wednesday 31 December 2025 belongs to 2026-W01, whose newest backup is Sunday 4 January.
    assert kept[by_time[utc("2026-01-04 22:30")]] == "weekly 2026-W01"
    assert kept[by_time[utc("2025-12-28 22:30")]] == "weekly 2025-W52"
    assert by_time[utc("2025-12-31 22:30")] not in kept


def test_the_preview_lists_what_apply_deletes(series):
    # Two months (the autumn change included) rather than the year: apply deletes one by one.
    schedule, by_time = series(datetime(2026, 10, 1, 4, 30, tzinfo=UTC))
    set_gfs(schedule, keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=2)
    with time_machine.travel(NOW, tick=False):
        preview = retention.preview(schedule)
        deleted = retention.apply(schedule)
    assert len(deleted) == len(by_time) - 10 == 61 * 4 - 10
    assert sorted(deleted) == sorted(d["backup_id"] for d in preview["delete"])
    assert sorted(Backup.objects.filter(schedule=schedule).values_list("id", flat=True)) == sorted(
        by_time[utc(at)] for at in EXPECTED if at >= "2026-10"
    )
    assert {d["backup_id"]: d["reason"] for d in preview["keep"]}[by_time[utc("2026-10-31 22:30")]] == (
        "monthly 2026-10"
    )


def test_the_hour_repeated_in_autumn_is_two_hours_and_keeps_the_newest_of_each(make_database, make_schedule):
    database = make_database()
    schedule = make_schedule(database, timezone="Europe/Rome")
    # Every 20 minutes from 01:00 CEST to 03:40 CET: 02:00-03:00 happens twice on 25 October 2026.
    at, ids = datetime(2026, 10, 24, 23, 0, tzinfo=UTC), {}
    while at <= datetime(2026, 10, 25, 2, 40, tzinfo=UTC):
        ids[at] = Backup.objects.create(
            database=database, schedule=schedule, trigger=Backup.Trigger.SCHEDULED, status=C, created_at=at
        ).pk
        at += timedelta(minutes=20)
    set_gfs(schedule, keep_hourly=3)
    plan = retention.plan(schedule, datetime(2026, 10, 25, 2, 50, tzinfo=UTC))
    kept = {d.backup_id: d.reason for d in plan.keep}
    assert kept == {
        ids[utc("2026-10-25 02:40")]: "newest completed backup of the database",  # 03:40 CET
        ids[utc("2026-10-25 01:40")]: "hourly 2026-10-25 02:00+01:00",  # 02:40 CET, the second 2 o'clock
        ids[utc("2026-10-25 00:40")]: "hourly 2026-10-25 02:00+02:00",  # 02:40 CEST, the first one
    }
    assert len(plan.delete) == len(ids) - 3


def test_the_spring_gap_hour_does_not_exist_and_days_follow_the_wall_clock(make_database, make_schedule):
    database = make_database()
    schedule = make_schedule(database, timezone="Europe/Rome")
    # 00:30 UTC on 29 March 2026 is 01:30 CET; 01:30 UTC is 03:30 CEST (02:xx never happens).
    times = [
        utc("2026-03-28 22:30"),
        utc("2026-03-29 00:30"),
        utc("2026-03-29 01:30"),
        utc("2026-03-29 21:30"),
    ]
    ids = {
        at: Backup.objects.create(
            database=database, schedule=schedule, trigger=Backup.Trigger.SCHEDULED, status=C, created_at=at
        ).pk
        for at in times
    }
    set_gfs(schedule, keep_hourly=3, keep_daily=2)
    kept = {d.backup_id: d.reason for d in retention.plan(schedule, utc("2026-03-29 22:00")).keep}
    # 21:30 UTC is 23:30 CEST of the 29th; 22:30 UTC of the 28th is 23:30 CET of the 28th.
    assert kept == {
        ids[utc("2026-03-29 21:30")]: "newest completed backup of the database",
        ids[utc("2026-03-29 01:30")]: "hourly 2026-03-29 03:00+02:00",
        ids[utc("2026-03-29 00:30")]: "hourly 2026-03-29 01:00+01:00",
        ids[utc("2026-03-28 22:30")]: "daily 2026-03-28",
    }


# --- the floors stay -----------------------------------------------------------------------------


@pytest.fixture
def daily(make_database, make_schedule):
    """(database, schedule, add) where add(status, days_ago, **fields) creates one backup of the schedule."""
    database = make_database()
    schedule = make_schedule(database, timezone="Europe/Rome")

    def add(status, days_ago, **fields):
        fields = {"schedule": schedule, "trigger": Backup.Trigger.SCHEDULED, **fields}
        return Backup.objects.create(
            database=database, status=status, created_at=NOW - timedelta(days=days_ago), **fields
        )

    return database, schedule, add


def test_days_of_failed_runs_do_not_use_up_the_daily_count(daily):
    _, schedule, add = daily
    set_gfs(schedule, keep_daily=2)
    good = {d: add(C, d) for d in range(5, 10)}
    for d in range(0, 5):
        add(F, d)
    kept = {
        d.backup_id: d.reason
        for d in retention.plan(schedule, NOW).keep
        if d.backup_id in {b.pk for b in good.values()}
    }
    assert set(kept) == {good[5].pk, good[6].pk}
    assert kept[good[5].pk] == "newest completed backup of the database"
    assert kept[good[6].pk].startswith("daily ")


def test_keep_days_still_pauses_age_pruning_while_recent_runs_fail(daily):
    _, schedule, add = daily
    set_gfs(schedule, keep_days=3, keep_monthly=1)
    good = [add(C, d) for d in range(10, 20)]
    for d in range(0, 10):
        add(F, d)
    plan = retention.plan(schedule, NOW)
    assert not {b.pk for b in good} & {d.backup_id for d in plan.delete}


def test_keep_last_keep_days_and_gfs_keep_the_union(daily):
    _, schedule, add = daily
    set_gfs(schedule, keep_last=2, keep_days=3, keep_weekly=3)
    backups = {d: add(C, d) for d in range(0, 40)}
    plan = retention.plan(schedule, NOW)
    kept = {d.backup_id: d.reason for d in plan.keep}
    assert kept[backups[1].pk] == "within keep_last=2"
    assert kept[backups[3].pk] == "within keep_days=3"
    # NOW - 7 days is Tuesday 24 November; the newest of W47 is Sunday 22 November (9 days ago).
    assert kept[backups[9].pk] == "weekly 2026-W47"
    assert set(kept) == {backups[d].pk for d in (0, 1, 2, 3, 9)}
    reason = {d.backup_id: d.reason for d in plan.delete}[backups[4].pk]
    assert reason == (
        "older than keep_days=3 and beyond keep_last=2 and not the newest completed backup of a kept "
        "period (weekly=3)"
    )


def test_partial_backups_never_fill_a_period_but_a_newer_one_than_any_good_backup_stays(daily):
    _, schedule, add = daily
    set_gfs(schedule, keep_daily=3)
    partial_new = add(P, 0)
    good = [add(C, 1), add(C, 2)]
    partial_old = add(P, 3)
    older = add(C, 3.5)
    plan = retention.plan(schedule, NOW)
    kept = {d.backup_id: d.reason for d in plan.keep}
    assert kept[partial_new.pk] == "no newer completed backup exists"
    assert set(kept) == {partial_new.pk, good[0].pk, good[1].pk, older.pk}
    assert [d.backup_id for d in plan.delete] == [partial_old.pk]


def test_a_backup_a_restore_reads_and_the_newest_manual_one_are_kept(daily, make_database):
    database, schedule, add = daily
    set_gfs(schedule, keep_yearly=1)
    old = [add(C, d) for d in (3, 4, 5)]
    manual = add(C, 1, schedule=None, trigger=Backup.Trigger.MANUAL)
    Restore.objects.create(backup=old[2], target_database=make_database())
    plan = retention.plan(schedule, NOW)
    kept = {d.backup_id: d.reason for d in plan.keep}
    assert kept == {old[0].pk: "yearly 2026", old[2].pk: "a restore is reading this backup"}
    assert [d.backup_id for d in plan.delete] == [old[1].pk]
    assert manual.pk not in kept and Backup.objects.filter(pk=manual.pk).exists()


def test_gfs_alone_counts_as_retention_for_the_sweep_and_the_pages(daily):
    _, schedule, add = daily
    assert not retention.has_retention(schedule)
    assert schedule not in retention.schedules_with_retention()
    set_gfs(schedule, keep_monthly=1)
    assert retention.has_retention(schedule)
    assert list(retention.schedules_with_retention()) == [schedule]
    backups = [add(C, d) for d in range(3)]
    with time_machine.travel(NOW, tick=False):
        assert retention.sweep() == 2
    assert list(Backup.objects.values_list("id", flat=True)) == [backups[0].pk]
