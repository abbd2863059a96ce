"""Schedules across DST changes, run through the worker's claim step under frozen time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine

from apps.backups.models import Backup
from apps.schedules import worker
from apps.schedules.cron import next_runs
from apps.schedules.models import ScheduleRun

ROME = ZoneInfo("Europe/Rome")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def run_worker_over(schedule, until: datetime, lateness=timedelta(seconds=1)) -> list[datetime]:
    """Let a worker wake at each next_run_at (plus lateness) until `until`; return the claimed slots."""
    slots = []
    while True:
        schedule.refresh_from_db()
        if schedule.next_run_at > until:
            break
        with time_machine.travel(schedule.next_run_at + lateness, tick=False):
            claimed = worker.claim_due(datetime.now(UTC), "w", limit=5)
            assert len(claimed) == 1, schedule.next_run_at
            Backup.objects.filter(pk=claimed[0].pk).update(status=Backup.Status.COMPLETED)
            assert worker.claim_due(datetime.now(UTC), "w", limit=5) == []  # nothing twice
        slots.append(ScheduleRun.objects.order_by("-slot_at").first().slot_at)
    return slots


def local(dt: datetime) -> str:
    return dt.astimezone(ROME).strftime("%m-%d %H:%M %Z")


def test_daily_0230_rome_across_the_march_change_runs_every_day_once(make_database, make_schedule):
    first = next_runs("30 2 * * *", "Europe/Rome", utc(2026, 3, 26), 1)[0]
    schedule = make_schedule(
        make_database(),
        interval_value="custom",
        cron_expression="30 2 * * *",
        timezone="Europe/Rome",
        next_run_at=first,
    )
    slots = run_worker_over(schedule, utc(2026, 3, 31, 12))
    assert slots == [
        utc(2026, 3, 26, 1, 30),
        utc(2026, 3, 27, 1, 30),
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),  # 02:30 does not exist that night: right after the gap, 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # back at 02:30 local, now CEST
        utc(2026, 3, 31, 0, 30),
    ]
    assert [local(s) for s in slots][3:] == ["03-29 03:00 CEST", "03-30 02:30 CEST", "03-31 02:30 CEST"]


def test_daily_0230_rome_across_the_october_change_runs_once_on_the_repeated_hour(
    make_database, make_schedule
):
    first = next_runs("30 2 * * *", "Europe/Rome", utc(2026, 10, 23), 1)[0]
    schedule = make_schedule(
        make_database(),
        interval_value="custom",
        cron_expression="30 2 * * *",
        timezone="Europe/Rome",
        next_run_at=first,
    )
    slots = run_worker_over(schedule, utc(2026, 10, 27, 12))
    assert slots == [
        utc(2026, 10, 23, 0, 30),
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),  # 02:30 happens twice: once, at the first (CEST)
        utc(2026, 10, 26, 1, 30),  # 02:30 CET: no hour drift
        utc(2026, 10, 27, 1, 30),
    ]
    assert {local(s)[6:11] for s in slots} == {"02:30"}


def test_hourly_rome_across_the_march_change_runs_every_real_hour_once(make_database, make_schedule):
    start = utc(2026, 3, 28, 22)
    schedule = make_schedule(
        make_database(),
        interval_value="hourly",
        cron_expression="0 * * * *",
        timezone="Europe/Rome",
        next_run_at=start,
    )
    slots = run_worker_over(schedule, utc(2026, 3, 29, 4))
    assert slots == [start + timedelta(hours=h) for h in range(7)]  # no gap, no duplicate
    assert [local(s) for s in slots][2:4] == ["03-29 01:00 CET", "03-29 03:00 CEST"]  # 02:00 does not exist
    slots += run_worker_over(schedule, utc(2026, 3, 29, 22))
    local_day = [s for s in slots if s.astimezone(ROME).day == 29]
    assert len(local_day) == 23  # the 23-hour local day has 23 hourly runs


def test_hourly_rome_across_the_october_change_runs_both_repeated_hours(make_database, make_schedule):
    start = utc(2026, 10, 24, 22)
    schedule = make_schedule(
        make_database(),
        interval_value="hourly",
        cron_expression="0 * * * *",
        timezone="Europe/Rome",
        next_run_at=start,
    )
    slots = run_worker_over(schedule, utc(2026, 10, 25, 4))
    assert slots == [start + timedelta(hours=h) for h in range(7)]
    assert [local(s) for s in slots][2:5] == ["10-25 02:00 CEST", "10-25 02:00 CET", "10-25 03:00 CET"]
    slots += run_worker_over(schedule, utc(2026, 10, 25, 23))
    assert len([s for s in slots if s.astimezone(ROME).day == 25]) == 25  # the 25-hour local day


def test_a_worker_down_across_the_spring_gap_runs_the_daily_schedule_once(make_database, make_schedule):
    schedule = make_schedule(
        make_database(),
        interval_value="custom",
        cron_expression="30 2 * * *",
        timezone="Europe/Rome",
        next_run_at=utc(2026, 3, 28, 1, 30),
    )
    with time_machine.travel(utc(2026, 3, 29, 9), tick=False):
        claimed = worker.claim_due(datetime.now(UTC), "w", limit=5)
    assert len(claimed) == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2026, 3, 30, 0, 30)


def test_a_leap_day_schedule_waits_for_the_next_february_29(make_database, make_schedule):
    schedule = make_schedule(
        make_database(),
        interval_value="custom",
        cron_expression="0 12 29 2 *",
        timezone="Europe/Rome",
        next_run_at=utc(2024, 2, 29, 11),
    )
    with time_machine.travel(utc(2026, 3, 1), tick=False):
        assert len(worker.claim_due(datetime.now(UTC), "w", limit=5)) == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2028, 2, 29, 11)
