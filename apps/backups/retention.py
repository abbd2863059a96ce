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
7. Otherwise the usable backup is deleted. A schedule with neither keep_last
   nor keep_days keeps everything (and rule 3 does not apply either).

keep_last and keep_days combine as a union: a backup survives if either
keeps it. A partial backup is treated like a completed one for keep_last /
keep_days, but it never counts as "a newer good backup". Deleting a backup
removes the file at every destination (successful copies of a partial
backup included), then the record, through backups.services.delete_backup.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

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
    """Return True if the schedule limits how long its backups are kept."""
    return bool(schedule.keep_last) or bool(schedule.keep_days)


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

    completed_of_db = list(
        Backup.objects.filter(database_id=schedule.database_id, status=COMPLETED)
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
            until = locked[bid].strftime("%Y-%m-%d %H:%M UTC")
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
        if window_start is not None:
            if created >= window_start:
                keep.append(Decision(bid, f"within keep_days={schedule.keep_days}"))
                continue
            if not good_in_window:
                keep.append(
                    Decision(
                        bid, f"no completed backup in the last {schedule.keep_days} days: age pruning paused"
                    )
                )
                continue
            reason = f"older than keep_days={schedule.keep_days}"
            if schedule.keep_last:
                reason += f" and beyond keep_last={schedule.keep_last}"
            delete.append(Decision(bid, reason))
            continue
        delete.append(Decision(bid, f"beyond keep_last={schedule.keep_last}"))
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
        log.info("retention: deleted backup %s of schedule %s (%s)", backup.pk, schedule.pk, decision.reason)
        deleted.append(decision.backup_id)
    return deleted


def schedules_with_retention():
    """Schedules whose retention the periodic sweep applies."""
    return Schedule.objects.filter(Q(keep_last__gt=0) | Q(keep_days__gt=0))


def sweep(now: datetime | None = None) -> int:
    """Apply retention to every schedule that has one; return how many backups were deleted."""
    total = 0
    for schedule in schedules_with_retention().iterator():
        try:
            total += len(apply(schedule, now))
        except Exception:
            log.exception("retention sweep failed for schedule %s", schedule.pk)
    return total
