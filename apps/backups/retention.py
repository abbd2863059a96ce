"""Retention: which backups of a schedule to delete, and why.

Scope. A schedule's retention looks only at the backups that schedule
created (`Backup.schedule == schedule`, trigger scheduled). Manual backups and
those of other schedules of the same database are never deleted here (people
delete manual backups themselves), but they do count as "a newer good backup"
and as "the newest completed backup of the database".

Statuses. *Good* means completed. *Usable* means completed or partial: a
partial backup has at least one good copy, so it can be restored. Pending and
in-progress backups are never touched, nor is a backup a restore is reading.

Rules, in order (the first that matches decides):

1. The newest completed backup of the database is always kept.
2. A backup that a pending or running restore reads is kept.
3. Failed records (no usable file) have their own, shorter rule: kept for
   FAILED_KEEP_DAYS days and at most the newest FAILED_KEEP_LAST of the
   schedule; older or further ones are deleted.
4. A usable backup is kept when no newer completed backup of the database
   exists: a good backup is only removed once a newer good one exists.
5. keep_last N: the N newest usable backups of the schedule are kept
   (failed runs do not use up the N slots).
6. keep_days D: usable backups younger than D days are kept. An older one is
   deleted by age only when a completed backup lies inside the D-day window;
   while every recent run fails, nothing is pruned by age.
7. GFS (keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly):
   for each kind with a count N, the newest completed backup of each of the
   last N periods that have one is kept, as restic and borg do. Periods are
   read on the schedule's wall clock (zoneinfo): an hour, a day, an ISO week
   (Monday to Sunday), a month, a year. The hour repeated when the clocks go
   back counts as two hours (its label carries the UTC offset). Only the
   schedule's good backups fill periods; partial ones never do. The kept
   backup's reason names the periods ("monthly 2026-10, daily 2026-10-31").
   Empty periods (failed runs, a stopped worker) are skipped, so GFS never
   deletes a backup because time passed, only because newer periods hold one.
8. Otherwise the usable backup is deleted. A schedule with no retention rule
   keeps everything (and rule 3 does not apply either).

keep_last, keep_days and the GFS counts combine as a union: a backup survives
if any of them keeps it. A partial backup is treated like a completed one for keep_last /
keep_days, but it never counts as "a newer good backup". Deleting a backup
removes the file at every destination (successful copies of a partial
backup included), then the record, through backups.services.delete_backup.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from apps.backups import services
from apps.backups.models import Backup, BackupCopy, Restore
from apps.schedules.models import Schedule

log = logging.getLogger(__name__)

FAILED_KEEP_DAYS = 7
FAILED_KEEP_LAST = 20

COMPLETED = Backup.Status.COMPLETED
PARTIAL = Backup.Status.PARTIAL
FAILED = Backup.Status.FAILED
USABLE = frozenset({COMPLETED, PARTIAL})


@dataclass(frozen=True)
class Decision:
    """What the next retention pass does with one backup, and why."""

    backup_id: int
    reason: str

    def as_dict(self) -> dict:
        return {"backup_id": self.backup_id, "reason": self.reason}


@dataclass
class Plan:
    delete: list[Decision]
    keep: list[Decision]

    def as_dict(self) -> dict:
        return {"delete": [d.as_dict() for d in self.delete], "keep": [d.as_dict() for d in self.keep]}


def has_retention(schedule: Schedule) -> bool:
    """Return True if the schedule limits how long its backups are kept (keep_last, keep_days or GFS)."""
    return schedule.has_retention()


# (schedule field, the word the reasons use), finest first.
GFS_KINDS = (
    ("keep_hourly", "hourly"),
    ("keep_daily", "daily"),
    ("keep_weekly", "weekly"),
    ("keep_monthly", "monthly"),
    ("keep_yearly", "yearly"),
)


def period_of(kind: str, local: datetime) -> str:
    """The period of a wall-clock time, as the reasons name it: "2026-11-30", "2026-W48", "2026-10"...

    The hour carries the UTC offset, so the hour repeated when the clocks go back is two periods.
    """
    if kind == "hourly":
        offset = local.strftime("%z")
        return f"{local:%Y-%m-%d %H}:00{offset[:3]}:{offset[3:]}"
    if kind == "daily":
        return f"{local:%Y-%m-%d}"
    if kind == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if kind == "monthly":
        return f"{local:%Y-%m}"
    if kind == "yearly":
        return f"{local:%Y}"
    raise ValueError(f"unknown GFS kind {kind!r}")


def gfs_keeps(
    schedule: Schedule, rows: Sequence[Mapping[str, Any]], good_ids: set[int]
) -> dict[int, list[str]]:
    """Which backups the GFS counts keep, and by which periods: {backup id: ["monthly 2026-10", ...]}.

    `rows` are the schedule's finished backups ({id, status, created_at}), newest first; `good_ids`
    the ids that count as good (plan() passes the database's good backups). For each kind with a
    count N, the newest good backup of each of the last N periods that have one.
    """
    counts = [(kind, getattr(schedule, field)) for field, kind in GFS_KINDS if getattr(schedule, field)]
    if not counts:
        return {}
    zone = ZoneInfo(schedule.timezone)
    good = [(r["id"], r["created_at"].astimezone(zone)) for r in rows if r["id"] in good_ids]
    keeps: dict[int, list[str]] = {}
    for kind, count in counts:
        seen: set[str] = set()
        for bid, local in good:
            period = period_of(kind, local)
            if period in seen:
                continue
            seen.add(period)
            keeps.setdefault(bid, []).append(f"{kind} {period}")
            if len(seen) >= count:
                break
    return keeps


def plan(schedule: Schedule, now: datetime | None = None) -> Plan:
    """Return which of the schedule's finished backups the next pass deletes and which it keeps."""
    now = now or timezone.now()
    rows = list(
        Backup.objects.filter(schedule=schedule, status__in=Backup.TERMINAL)
        .order_by("-created_at", "-id")
        .values("id", "status", "created_at")
    )
    if not rows:
        return Plan([], [])
    if not has_retention(schedule):
        return Plan([], [Decision(r["id"], "the schedule sets no retention") for r in rows])

    # Good backups: completed, and not flagged as an anomaly nobody has accepted yet.
    completed_of_db = list(
        Backup.objects.filter(database_id=schedule.database_id, status=COMPLETED)
        .exclude(~Q(anomaly=""), anomaly_accepted=False)
        .order_by("-created_at", "-id")
        .values_list("id", "created_at")
    )
    newest_completed_id = completed_of_db[0][0] if completed_of_db else None
    restoring = set(
        Restore.objects.filter(
            backup__schedule=schedule, status__in=[Restore.Status.PENDING, Restore.Status.IN_PROGRESS]
        ).values_list("backup_id", flat=True)
    )
    locked = dict(
        BackupCopy.objects.filter(backup__schedule=schedule, locked_until__gt=now)
        .order_by("backup_id", "-locked_until")
        .values_list("backup_id", "locked_until")
    )
    window_start = now - timedelta(days=schedule.keep_days) if schedule.keep_days else None
    good_in_window = window_start is not None and any(at >= window_start for _, at in completed_of_db)
    failed_cutoff = now - timedelta(days=FAILED_KEEP_DAYS)
    gfs = gfs_keeps(schedule, rows, {bid for bid, _ in completed_of_db})
    gfs_set = ", ".join(
        f"{kind}={getattr(schedule, field)}" for field, kind in GFS_KINDS if getattr(schedule, field)
    )

    delete: list[Decision] = []
    keep: list[Decision] = []
    usable_rank = 0
    failed_rank = 0
    for row in rows:
        bid, status, created = row["id"], row["status"], row["created_at"]
        if bid == newest_completed_id:
            keep.append(Decision(bid, "newest completed backup of the database"))
            usable_rank += 1
            continue
        if bid in restoring:
            keep.append(Decision(bid, "a restore is reading this backup"))
            if status in USABLE:
                usable_rank += 1
            continue
        if bid in locked:
            until = f"{locked[bid]:%Y-%m-%d %H:%M} UTC"  # locked_until > now: never None
            keep.append(Decision(bid, f"a copy is locked until {until} (Object Lock)"))
            if status in USABLE:
                usable_rank += 1
            continue
        if status == FAILED:
            failed_rank += 1
            if created < failed_cutoff:
                delete.append(Decision(bid, f"failed record older than {FAILED_KEEP_DAYS} days"))
            elif failed_rank > FAILED_KEEP_LAST:
                delete.append(Decision(bid, f"failed record beyond the newest {FAILED_KEEP_LAST}"))
            else:
                keep.append(Decision(bid, f"failed record kept for {FAILED_KEEP_DAYS} days"))
            continue
        usable_rank += 1
        # completed_of_db is newest first, so its head decides whether a newer good one exists.
        if not completed_of_db or (completed_of_db[0][1], completed_of_db[0][0]) <= (created, bid):
            keep.append(Decision(bid, "no newer completed backup exists"))
            continue
        if schedule.keep_last and usable_rank <= schedule.keep_last:
            keep.append(Decision(bid, f"within keep_last={schedule.keep_last}"))
            continue
        if window_start is not None and created >= window_start:
            keep.append(Decision(bid, f"within keep_days={schedule.keep_days}"))
            continue
        if bid in gfs:
            keep.append(Decision(bid, ", ".join(gfs[bid])))
            continue
        if window_start is not None and not good_in_window:
            keep.append(
                Decision(
                    bid, f"no completed backup in the last {schedule.keep_days} days: age pruning paused"
                )
            )
            continue
        parts = []
        if window_start is not None:
            parts.append(f"older than keep_days={schedule.keep_days}")
        if schedule.keep_last:
            parts.append(f"beyond keep_last={schedule.keep_last}")
        if gfs_set:
            parts.append(f"not the newest completed backup of a kept period ({gfs_set})")
        delete.append(Decision(bid, " and ".join(parts)))
    return Plan(delete, keep)


def preview(schedule: Schedule) -> dict:
    """What the next retention pass would do: {"delete": [{backup_id, reason}], "keep": [...]}."""
    return plan(schedule).as_dict()


def apply(schedule: Schedule, now: datetime | None = None) -> list[int]:
    """Delete what plan() says (files at every destination, then the record); return the deleted ids.

    A backup whose deletion fails is logged and skipped; the next pass tries again.
    """
    deleted: list[int] = []
    for decision in plan(schedule, now).delete:
        backup = Backup.objects.filter(pk=decision.backup_id, status__in=Backup.TERMINAL).first()
        if backup is None:
            continue
        try:
            result = services.delete_backup(backup, delete_files=True)
        except Exception:
            log.exception("retention: deleting backup %s of schedule %s failed", backup.pk, schedule.pk)
            continue
        if not getattr(result, "deleted", True):
            # A file could not be deleted: the record stays (with the reason on its copy).
            log.warning(
                "retention: backup %s kept, a file could not be deleted: %s", backup.pk, result.results
            )
            continue
        log.info(
            "retention: deleted backup %s of schedule %s (%s)",
            decision.backup_id,
            schedule.pk,
            decision.reason,
        )
        deleted.append(decision.backup_id)
    return deleted


def schedules_with_retention():
    """Schedules whose retention the periodic sweep applies."""
    rules = ("keep_last", "keep_days", *(field for field, _ in GFS_KINDS))
    query = Q()
    for field in rules:
        query |= Q(**{f"{field}__gt": 0})
    return Schedule.objects.filter(query)


def sweep(now: datetime | None = None) -> int:
    """Apply retention to every schedule that has one; return how many backups were deleted."""
    total = 0
    for schedule in schedules_with_retention().iterator():
        try:
            total += len(apply(schedule, now))
        except Exception:
            log.exception("retention sweep failed for schedule %s", schedule.pk)
    return total
