"""Claiming due work: schedule slots, queued manual backups, restores and verifications.

Every claim is a conditional UPDATE that proceeds only when exactly one row
changed, inside a transaction that lasts a few statements (never a dump), so
any number of workers on any number of hosts can share one metadata
database.

Per database at most one backup or restore runs at a time, across all
workers: a claim locks the Database row (SELECT ... FOR UPDATE; SQLite's
IMMEDIATE transactions serialise writers anyway) and checks that nothing of
that database is in progress. A due schedule of a busy database waits.
Verifications only read copies, so they do not take the database.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.backups import lifecycle
from apps.backups.lifecycle import busy_database_ids, lock_free_database
from apps.backups.models import Backup, Drill, Restore, Run, Verification
from apps.schedules.models import Schedule, ScheduleRun

log = logging.getLogger(__name__)

BACKUP = "backup"
RESTORE = "restore"
VERIFICATION = "verification"
DRILL = "drill"
MODELS: dict[str, type[Run]] = {BACKUP: Backup, RESTORE: Restore, VERIFICATION: Verification, DRILL: Drill}


def claim_schedule(schedule: Schedule, now: datetime, worker_id: str) -> Backup | None:
    """Claim the slot a due schedule is waiting for; return its new backup, or None.

    The slot is `schedule.next_run_at` as read. The schedule moves to its next
    slot strictly after now (after downtime a missed schedule runs once), by
    an UPDATE conditional on next_run_at being unchanged: only one worker
    sees one row changed. The ScheduleRun (schedule, slot) unique pair is
    the second guard. The backup is created in progress, owned by this
    worker, with a fresh heartbeat.
    """
    due_at = schedule.next_run_at
    if due_at is None or not schedule.enabled or due_at > now:
        return None
    try:
        new_next = schedule.compute_next_run(max(now, due_at))
    except Exception:
        log.exception("schedule %s: cannot compute its next run; disabling it", schedule.pk)
        Schedule.objects.filter(pk=schedule.pk, next_run_at=due_at).update(enabled=False)
        return None
    with transaction.atomic():
        if not lock_free_database(schedule.database_id):
            return None
        changed = Schedule.objects.filter(pk=schedule.pk, next_run_at=due_at, enabled=True).update(
            next_run_at=new_next, last_run_at=now
        )
        if changed != 1:
            return None
        try:
            with transaction.atomic():
                run = ScheduleRun.objects.create(schedule_id=schedule.pk, slot_at=due_at)
        except IntegrityError:
            # This slot already ran (next_run_at was set back by hand): skip it, keep the move.
            log.warning("schedule %s: slot %s already ran; skipped", schedule.pk, due_at.isoformat())
            return None
        started = timezone.now()
        backup = Backup.objects.create(
            database_id=schedule.database_id,
            schedule_id=schedule.pk,
            trigger=Backup.Trigger.SCHEDULED,
            status=Backup.Status.IN_PROGRESS,
            worker_id=worker_id,
            created_at=started,
            started_at=started,
            heartbeat_at=started,
        )
        ScheduleRun.objects.filter(pk=run.pk).update(backup=backup)
    schedule.next_run_at, schedule.last_run_at = new_next, now
    return backup


def claim_backup(backup_id: int, database_id: int, worker_id: str) -> bool:
    """Claim a pending (manual) backup: pending → in progress for this worker; True if claimed."""
    return _claim_with_database(Backup, backup_id, database_id, worker_id)


def claim_restore(restore_id: int, database_id: int, worker_id: str) -> bool:
    """Claim a pending restore: pending → in progress for this worker; True if claimed."""
    return _claim_with_database(Restore, restore_id, database_id, worker_id)


def claim_drill(drill_id: int, database_id: int, worker_id: str) -> bool:
    """Claim a pending drill: it takes its scratch target database like a restore; True if claimed."""
    return _claim_with_database(Drill, drill_id, database_id, worker_id)


def claim_verification(verification_id: int, worker_id: str) -> bool:
    """Claim a pending verification; True if claimed (it takes no database: it only reads copies)."""
    return lifecycle.claim(Verification, verification_id, worker_id)


def _claim_with_database(model: type[Run], pk: int, database_id: int, worker_id: str) -> bool:
    with transaction.atomic():
        if not lock_free_database(database_id):
            return False
        return lifecycle.claim(model, pk, worker_id)


# The queued runs a worker claims, and the database each one takes (None: it takes none).
QUEUES: tuple[tuple[str, str | None], ...] = (
    (BACKUP, "database_id"),
    (RESTORE, "target_database_id"),
    (DRILL, "target_database_id"),
    (VERIFICATION, None),  # only reads copies
)


def _pending(kind: str, database_field: str | None, busy: set[int], window: int) -> list[tuple[Any, ...]]:
    """(id, database id or None, created_at) of the oldest pending runs of one kind on free databases."""
    rows = MODELS[kind]._default_manager.filter(status="pending")
    if database_field is None:
        return [
            (pk, None, created)
            for pk, created in rows.order_by("created_at", "pk").values_list("pk", "created_at")[:window]
        ]
    return list(
        rows.exclude(**{f"{database_field}__in": busy})
        .order_by("created_at", "pk")
        .values_list("pk", database_field, "created_at")[:window]
    )


@dataclass(frozen=True)
class Claimed:
    """One unit of work this worker now owns."""

    kind: str  # BACKUP | RESTORE | VERIFICATION
    pk: int
    database_id: int | None
    due_at: datetime


def claim_due(now: datetime, worker_id: str, limit: int, busy: set[int] | None = None) -> list[Claimed]:
    """Claim up to `limit` due jobs, oldest first: schedule slots, pending backups, restores, drills, verifications.

    `busy` (database ids) is extended with what was claimed. Databases that
    are busy are skipped; their work waits for the next pass.
    """
    if limit <= 0:
        return []
    busy = busy_database_ids() if busy is None else busy
    window = limit * 3 + len(busy)
    candidates: list[tuple[datetime, str, Any]] = []
    for schedule in Schedule.objects.due(now).exclude(database_id__in=busy).order_by("next_run_at")[:window]:
        candidates.append((schedule.next_run_at, "schedule", schedule))
    for kind, database_field in QUEUES:
        for pk, database_id, created in _pending(kind, database_field, busy, window):
            candidates.append((created, kind, (pk, database_id)))
    # Oldest due first; ties in random order, so workers starting together do not all
    # race for the same rows (a lost race costs a wasted claim transaction).
    order = {id(c): random.random() for c in candidates}
    candidates.sort(key=lambda c: (c[0], order[id(c)]))

    claimed: list[Claimed] = []
    for due_at, kind, item in candidates:
        if len(claimed) >= limit:
            break
        if kind == "schedule":
            if item.database_id in busy:
                continue
            backup = claim_schedule(item, now, worker_id)
            if backup is not None:
                claimed.append(Claimed(BACKUP, backup.pk, item.database_id, due_at))
                busy.add(item.database_id)
            continue
        pk, database_id = item
        if kind == VERIFICATION:
            if claim_verification(pk, worker_id):
                claimed.append(Claimed(kind, pk, None, due_at))
            continue
        if database_id in busy:
            continue
        claim = {BACKUP: claim_backup, RESTORE: claim_restore, DRILL: claim_drill}[kind]
        ok = claim(pk, database_id, worker_id)
        if ok:
            claimed.append(Claimed(kind, pk, database_id, due_at))
            busy.add(database_id)
    return claimed


def next_due_at(now: datetime) -> datetime | None:
    """The soonest next_run_at after now of any enabled schedule (uses schedule_due_idx)."""
    return (
        Schedule.objects.filter(enabled=True, next_run_at__gt=now)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )
