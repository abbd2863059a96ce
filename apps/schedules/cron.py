"""Pure cron + timezone functions (croniter), shared by the model, forms, API and worker."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, Options  # type: ignore[import-untyped]
from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

PRESETS = {
    "minute": "* * * * *",
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 0",
    "monthly": "0 0 1 * *",
}


# Presets that may run at a chosen time of day: the shape their expression keeps (minute, hour,
# day of month, month, weekday; "N" is a number, "*" itself).
TIMED_PRESETS = {
    "daily": ("N", "N", "*", "*", "*"),
    "weekly": ("N", "N", "*", "*", "N"),
    "monthly": ("N", "N", "N", "*", "*"),
}
# Bounds of (minute, hour, day of month, weekday); a monthly day stops at 28 so it runs every month.
_BOUNDS = ((0, 59), (0, 23), (1, 28), None, (0, 6))


class CronError(ValueError):
    """An invalid cron expression or timezone; the message says what is wrong."""


def preset_parts(interval: str, expr: str | None) -> dict | None:
    """{"minute", "hour", "day", "weekday"} when `expr` has the timed preset's shape, else None.

    "30 2 * * *" is daily at 02:30; "0 6 * * 1" weekly on Monday at 06:00; "15 3 1 * *" monthly
    on day 1 at 03:15. Anything else (ranges, steps, a day 29-31) is not a preset's.
    """
    shape = TIMED_PRESETS.get(interval)
    fields = (expr or "").split()
    if shape is None or len(fields) != 5:
        return None
    values: list[int | None] = []
    for field, kind, bounds in zip(fields, shape, _BOUNDS, strict=True):
        if kind == "*":
            if field != "*":
                return None
            values.append(None)
            continue
        if (
            not (field.isascii() and field.isdigit())
            or bounds is None
            or not bounds[0] <= int(field) <= bounds[1]
        ):
            return None
        values.append(int(field))
    minute, hour, day, _, weekday = values
    return {"minute": minute, "hour": hour, "day": day, "weekday": weekday}


def preset_expression(
    interval: str, *, hour: int = 0, minute: int = 0, weekday: int = 0, day: int = 1
) -> str:
    """The expression of a timed preset (daily, weekly, monthly) at hour:minute; weekday 0 is Sunday."""
    if interval == "daily":
        expr = f"{minute} {hour} * * *"
    elif interval == "weekly":
        expr = f"{minute} {hour} * * {weekday}"
    elif interval == "monthly":
        expr = f"{minute} {hour} {day} * *"
    else:
        raise CronError(f"{interval!r} has no time of day")
    if preset_parts(interval, expr) is None:
        raise CronError(f"{expr!r} is out of range for a {interval} schedule")
    return expr


def expression_for(interval: str, custom: str | None) -> str:
    """Return the preset's expression for interval, or the custom expression.

    A timed preset keeps an expression of its own shape (daily at 02:30 is "30 2 * * *");
    any other expression given with a preset is replaced by the preset's default.
    """
    if interval in PRESETS:
        if interval in TIMED_PRESETS and preset_parts(interval, custom) is not None:
            return " ".join((custom or "").split())
        return PRESETS[interval]
    if interval != "custom":
        raise CronError(f"unknown interval {interval!r}; use one of {', '.join([*PRESETS, 'custom'])}")
    if not custom or not custom.strip():
        raise CronError("a custom schedule needs a cron expression")
    return " ".join(custom.split())


def validate_cron(expr: str) -> str:
    """Return the normalised expression, or raise CronError saying what is wrong."""
    if not isinstance(expr, str) or not expr.strip():
        raise CronError("the cron expression is empty")
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(
            f"a cron expression has exactly 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    normalised = " ".join(fields)
    try:
        if not croniter.is_valid(normalised):
            raise CronError(f"{normalised!r} is not a valid cron expression")
        itr = croniter(normalised, datetime(2000, 1, 1, tzinfo=dt_timezone.utc))
        itr.get_next(datetime)
    except CronError:
        raise
    except CroniterBadDateError:
        raise CronError(f"{normalised!r} never runs: no date matches it") from None
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as exc:
        raise CronError(f"{normalised!r} is not a valid cron expression: {exc}") from None
    return normalised


def validate_timezone(name: str) -> ZoneInfo:
    """Return the zone for an IANA name, or raise CronError."""
    if not isinstance(name, str) or not name or name not in _zone_names():
        raise CronError(f"{name!r} is not a known IANA timezone (e.g. UTC, Europe/Rome)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"{name!r} is not a known IANA timezone (e.g. UTC, Europe/Rome)") from None


_ZONES: frozenset[str] | None = None
NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        # Not places: "Factory" is tzdata's placeholder zone ("-00") and "localtime" is whatever
        # this host's /etc/localtime says (not a name that means the same everywhere).
        _ZONES = (frozenset(available_timezones()) - NOT_ZONES) | {"UTC"}
    return _ZONES


def next_run_after(expr: str, tz_name: str, after_utc: datetime) -> datetime:
    """Return the first run strictly after `after_utc`, evaluated in tz_name, as UTC.

    Evaluated on local wall-clock time so a daily 02:30 stays at 02:30 local
    after a DST change. A wall time that does not exist (spring forward) runs
    at the first instant after the gap; a wall time that happens twice (fall
    back) runs once, at its first occurrence.
    """
    return next_runs(expr, tz_name, after_utc, 1)[0]


def next_runs(expr: str, tz_name: str, after_utc: datetime, count: int) -> list[datetime]:
    """Return the next `count` runs strictly after `after_utc`, as aware UTC datetimes."""
    expr = validate_cron(expr)
    zone = validate_timezone(tz_name)
    if after_utc.tzinfo is None:
        raise ValueError("after_utc must be timezone-aware")
    after_utc = after_utc.astimezone(dt_timezone.utc)
    # A rule that fires every hour ("*" hours) must also fire in the repeated
    # hour when clocks fall back; a rule for a fixed hour fires once that day.
    every_hour = expr.split()[1] == "*"
    # Iterate over naive local wall-clock times and map each to UTC ourselves.
    # Start two hours early so a fall-back repeat of the start hour is not skipped.
    local_start = after_utc.astimezone(zone).replace(tzinfo=None)
    itr = croniter(expr, local_start - timedelta(hours=2))
    results: list[datetime] = []
    guard = 0
    while len(results) < count:
        guard += 1
        if guard > count * 50 + 1000:
            raise CronError(f"{expr!r} produces no run time")
        try:
            wall = itr.get_next(datetime)
        except (CroniterBadDateError, CroniterError) as exc:
            raise CronError(f"{expr!r} produces no run time: {exc}") from None
        for utc in _wall_to_utc(wall, zone, every_hour):
            if utc > after_utc and (not results or utc > results[-1]) and len(results) < count:
                results.append(utc)
    return results


def _wall_to_utc(wall: datetime, zone: ZoneInfo, both_folds: bool) -> list[datetime]:
    """Map a naive local wall time to the UTC instants it stands for.

    A time in a spring-forward gap maps to the end of the gap (the first
    instant whose wall time is not earlier). A time that happens twice maps to
    its first occurrence, and to both when `both_folds` is set.
    """
    early = wall.replace(tzinfo=zone, fold=0).astimezone(dt_timezone.utc)
    late = wall.replace(tzinfo=zone, fold=1).astimezone(dt_timezone.utc)
    if early.astimezone(zone).replace(tzinfo=None) != wall:
        probe = early
        while (probe - timedelta(minutes=1)).astimezone(zone).replace(tzinfo=None) >= wall:
            probe -= timedelta(minutes=1)
        return [probe]
    if late != early and both_folds:
        return sorted({early, late})
    return [early]


def describe(expr: str) -> str:
    """A plain-English reading of a cron expression ("At 02:30, only on Monday"), or "" if none."""
    try:
        options = Options()
        options.use_24hour_time_format = True
        return ExpressionDescriptor(expr, options).get_description()
    except Exception:  # noqa: BLE001 - a reading is a courtesy; an odd expression just has none
        return ""
