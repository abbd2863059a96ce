"""The worker's steps: claim due work, run it, heartbeat it, reap what dead workers left.

Every claim is a conditional UPDATE that proceeds only when exactly one row
changed, inside a transaction that lasts a few statements (never a dump), so
any number of workers on any number of hosts can share one metadata
database. The steps are plain functions so tests call them directly under
frozen time; `Scheduler` strings them into the `runscheduler` loop, modelled
on healthchecks' `sendalerts`: signals only set a flag, each pass does small
units of work, and the loop sleeps in short slices until the next due time.

Per database at most one backup or restore runs at a time, across all
workers: a claim locks the Database row (SELECT ... FOR UPDATE; SQLite's
IMMEDIATE transactions serialise writers anyway) and checks that nothing of
that database is in progress. A due schedule of a busy database waits.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from apps.backups.models import Backup, BackupCopy, Restore
from apps.databases.models import Database
from apps.schedules import worker_status
from apps.schedules.models import Schedule, ScheduleRun

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: worker stopped"
BACKUP = "backup"
RESTORE = "restore"


# --- which databases are busy -------------------------------------------------


def busy_database_ids() -> set[int]:
    """Databases with a backup running or a restore loading into them (any worker)."""
    backups = Backup.objects.filter(status=Backup.Status.IN_PROGRESS).values_list("database_id", flat=True)
    restores = Restore.objects.filter(status=Restore.Status.IN_PROGRESS).values_list(
        "target_database_id", flat=True
    )
    return set(backups) | set(restores)


def lock_free_database(database_id: int) -> bool:
    """Inside a transaction: lock the database row and return True if nothing of it is running.

    The row lock serialises claims of the same database on PostgreSQL and
    MySQL, so two workers cannot both see it free (write skew).
    """
    if not Database.objects.select_for_update().filter(pk=database_id).exists():
        return False
    if Backup.objects.filter(database_id=database_id, status=Backup.Status.IN_PROGRESS).exists():
        return False
    return not Restore.objects.filter(
        target_database_id=database_id, status=Restore.Status.IN_PROGRESS
    ).exists()


# --- claims -----------------------------------------------------------------------


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
    return _claim_pending(Backup, backup_id, database_id, worker_id)


def claim_restore(restore_id: int, database_id: int, worker_id: str) -> bool:
    """Claim a pending restore: pending → in progress for this worker; True if claimed."""
    return _claim_pending(Restore, restore_id, database_id, worker_id)


def _claim_pending(model, pk: int, database_id: int, worker_id: str) -> bool:
    started = timezone.now()
    with transaction.atomic():
        if not lock_free_database(database_id):
            return False
        return (
            model.objects.filter(pk=pk, status=model.Status.PENDING).update(
                status=model.Status.IN_PROGRESS, worker_id=worker_id, heartbeat_at=started, started_at=started
            )
            == 1
        )


@dataclass(frozen=True)
class Claimed:
    """One unit of work this worker now owns."""

    kind: str  # BACKUP | RESTORE
    pk: int
    database_id: int
    due_at: datetime


def claim_due(now: datetime, worker_id: str, limit: int, busy: set[int] | None = None) -> list[Claimed]:
    """Claim up to `limit` due jobs, oldest first: schedule slots, pending backups, pending restores.

    `busy` (database ids) is extended with what was claimed. Databases that
    are busy are skipped; their work waits for the next pass.
    """
    if limit <= 0:
        return []
    busy = busy_database_ids() if busy is None else busy
    window = limit * 3 + len(busy)
    candidates: list[tuple[datetime, str, object]] = []
    for schedule in Schedule.objects.due(now).exclude(database_id__in=busy).order_by("next_run_at")[:window]:
        candidates.append((schedule.next_run_at, "schedule", schedule))
    for pk, database_id, created in (
        Backup.objects.filter(status=Backup.Status.PENDING)
        .exclude(database_id__in=busy)
        .order_by("created_at", "id")
        .values_list("id", "database_id", "created_at")[:window]
    ):
        candidates.append((created, BACKUP, (pk, database_id)))
    for pk, database_id, created in (
        Restore.objects.filter(status=Restore.Status.PENDING)
        .exclude(target_database_id__in=busy)
        .order_by("created_at", "id")
        .values_list("id", "target_database_id", "created_at")[:window]
    ):
        candidates.append((created, RESTORE, (pk, database_id)))
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
        if database_id in busy:
            continue
        ok = (
            claim_backup(pk, database_id, worker_id)
            if kind == BACKUP
            else claim_restore(pk, database_id, worker_id)
        )
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


# --- heartbeats, reaping, interruption -------------------------------------------


def refresh_heartbeats(worker_id: str, backup_ids, restore_ids, now: datetime | None = None) -> int:
    """Touch heartbeat_at of this worker's running jobs (a dump may block the runner); return rows."""
    now = now or timezone.now()
    n = 0
    if backup_ids:
        n += Backup.objects.filter(
            pk__in=list(backup_ids), status=Backup.Status.IN_PROGRESS, worker_id=worker_id
        ).update(heartbeat_at=now)
    if restore_ids:
        n += Restore.objects.filter(
            pk__in=list(restore_ids), status=Restore.Status.IN_PROGRESS, worker_id=worker_id
        ).update(heartbeat_at=now)
    return n


def _stale(now: datetime, stale_seconds: int) -> Q:
    cutoff = now - timedelta(seconds=stale_seconds)
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)


def interrupt_backup(backup: Backup, now: datetime, *, only_if_heartbeat: bool = True) -> bool:
    """Mark one in-progress backup failed "interrupted", fail its unwritten copies, remove partials.

    Conditional on the row being unchanged (same heartbeat) unless told
    otherwise, so a reaper never overrides a worker that is still alive.
    Return True if this call interrupted it.
    """
    from apps.notifications import notify

    rows = Backup.objects.filter(pk=backup.pk, status=Backup.Status.IN_PROGRESS)
    if only_if_heartbeat:
        rows = (
            rows.filter(heartbeat_at=backup.heartbeat_at)
            if backup.heartbeat_at
            else rows.filter(heartbeat_at__isnull=True)
        )
    if rows.update(status=Backup.Status.FAILED, error=INTERRUPTED, finished_at=now) != 1:
        return False
    _after_interrupt(backup)
    backup.refresh_from_db()
    notify.backup_finished(backup)
    log.warning("backup %s of database %s: %s", backup.pk, backup.database_id, INTERRUPTED)
    return True


def _after_interrupt(backup: Backup) -> None:
    from apps.backups import services

    BackupCopy.objects.filter(
        backup_id=backup.pk, status__in=[BackupCopy.Status.PENDING, BackupCopy.Status.IN_PROGRESS]
    ).update(status=BackupCopy.Status.FAILED, error=f"Not written: {INTERRUPTED}")
    try:
        services.cleanup_partials(backup)
    except Exception:
        log.exception("backup %s: removing partial files failed", backup.pk)


def interrupt_restore(restore: Restore, now: datetime, *, only_if_heartbeat: bool = True) -> bool:
    """Mark one in-progress restore failed "interrupted"; True if this call did it."""
    rows = Restore.objects.filter(pk=restore.pk, status=Restore.Status.IN_PROGRESS)
    if only_if_heartbeat:
        rows = (
            rows.filter(heartbeat_at=restore.heartbeat_at)
            if restore.heartbeat_at
            else rows.filter(heartbeat_at__isnull=True)
        )
    if rows.update(status=Restore.Status.FAILED, error=INTERRUPTED, finished_at=now) != 1:
        return False
    log.warning("restore %s into database %s: %s", restore.pk, restore.target_database_id, INTERRUPTED)
    return True


def reap_stale(
    now: datetime,
    *,
    stale_seconds: int | None = None,
    live_backup_ids=(),
    live_restore_ids=(),
) -> tuple[list[int], list[int]]:
    """Fail runs whose heartbeat is stale (their worker died) and remove their partial files.

    Runs in `live_*_ids` (this worker's own jobs) are never reaped. Return
    the ids of the backups and restores that were interrupted.
    """
    stale_seconds = stale_seconds or settings.BM_HEARTBEAT_STALE_SECONDS
    stale = _stale(now, stale_seconds)
    backups = [
        b
        for b in Backup.objects.filter(stale, status=Backup.Status.IN_PROGRESS).exclude(
            pk__in=list(live_backup_ids)
        )
        if interrupt_backup(b, now)
    ]
    restores = [
        r
        for r in Restore.objects.filter(stale, status=Restore.Status.IN_PROGRESS).exclude(
            pk__in=list(live_restore_ids)
        )
        if interrupt_restore(r, now)
    ]
    return [b.pk for b in backups], [r.pk for r in restores]


# --- running one job ------------------------------------------------------------------


def after_backup(backup: Backup) -> None:
    """What follows a finished backup: queue its notifications, then apply its schedule's retention."""
    from apps.notifications import notify
    from apps.backups import retention

    notify.backup_finished(backup)
    if backup.schedule_id and backup.status in Backup.TERMINAL:
        schedule = Schedule.objects.filter(pk=backup.schedule_id).first()
        if schedule is not None and retention.has_retention(schedule):
            try:
                retention.apply(schedule)
            except Exception:
                log.exception("retention after backup %s failed", backup.pk)


def run_backup_job(backup_id: int, cancel: threading.Event | None = None) -> Backup | None:
    """Run one claimed backup to its end (runner.run_backup), then notifications and retention."""
    from apps.backups.runner import run_backup

    backup = Backup.objects.filter(pk=backup_id).first()
    if backup is None:
        return None
    backup = run_backup(backup, cancel=cancel)
    if cancel is not None and cancel.is_set() and backup.status != Backup.Status.COMPLETED:
        return backup  # the shutdown path records the interruption (and notifies)
    after_backup(backup)
    return backup


def run_restore_job(restore_id: int, cancel: threading.Event | None = None) -> Restore | None:
    """Run one claimed restore to its end (runner.run_restore)."""
    from apps.backups.runner import run_restore

    restore = Restore.objects.filter(pk=restore_id).first()
    if restore is None:
        return None
    return run_restore(restore, cancel=cancel)


# --- the loop ---------------------------------------------------------------------------


@dataclass
class Job:
    claimed: Claimed
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None


class Scheduler:
    """One `runscheduler` process: a pool of job threads fed by short claiming passes."""

    HEARTBEAT_EVERY = 5.0  # seconds between loop-side heartbeat refreshes of running jobs
    BEAT_EVERY = 5.0  # seconds between writes of this worker's own heartbeat
    MAINTENANCE_EVERY = 1.0  # notification delivery
    STALE_CHECK_EVERY = 60.0
    RETENTION_EVERY = 900.0
    PRUNE_EVERY = 3600.0

    def __init__(
        self,
        *,
        concurrency: int | None = None,
        grace_seconds: float | None = None,
        stale_seconds: int | None = None,
        worker_id: str | None = None,
        log_fn=None,
    ) -> None:
        self.concurrency = concurrency or settings.BM_WORKER_CONCURRENCY
        self.grace_seconds = settings.BM_WORKER_GRACE_SECONDS if grace_seconds is None else grace_seconds
        self.stale_seconds = stale_seconds or settings.BM_HEARTBEAT_STALE_SECONDS
        self.heartbeat_every = min(self.HEARTBEAT_EVERY, self.stale_seconds / 3)
        self.worker_id = worker_id or worker_status.make_worker_id()
        self.log = log_fn or (lambda msg: log.info("%s", msg))
        self.jobs: dict[tuple[str, int], Job] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bm-job")
        self._last_refresh = 0.0
        self._last_beat = -1e9
        self._last_beat_jobs = -1
        self._signals = 0

    # -- signals

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop claiming; a second one ends the grace period at once."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        self._signals += 1
        if self._signals > 1:
            self.grace_seconds = 0
        self.stopping.set()
        self.wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    # -- job bookkeeping

    def live_ids(self, kind: str) -> set[int]:
        with self.lock:
            return {pk for (k, pk) in self.jobs if k == kind}

    def running(self) -> int:
        with self.lock:
            return len(self.jobs)

    def free_slots(self) -> int:
        return max(0, self.concurrency - self.running())

    def _submit(self, claimed: Claimed) -> Job:
        job = Job(claimed)
        with self.lock:
            self.jobs[(claimed.kind, claimed.pk)] = job
        job.future = self.pool.submit(self._run_job, job)
        return job

    def _run_job(self, job: Job) -> None:
        try:
            if job.claimed.kind == BACKUP:
                backup = run_backup_job(job.claimed.pk, job.cancel)
                if backup is not None:
                    self.log(f"backup {backup.pk} of database {backup.database_id}: {backup.status}")
            else:
                restore = run_restore_job(job.claimed.pk, job.cancel)
                if restore is not None:
                    self.log(
                        f"restore {restore.pk} into database {restore.target_database_id}: {restore.status}"
                    )
        except Exception:
            log.exception("%s %s crashed", job.claimed.kind, job.claimed.pk)
        finally:
            connections.close_all()  # this thread's connections; Django's are per thread
            with self.lock:
                self.jobs.pop((job.claimed.kind, job.claimed.pk), None)
            self.wake.set()

    # -- one pass

    def run_pass(self, now: datetime | None = None) -> list[Claimed]:
        """Reap stale runs, claim as many due jobs as there are free slots, heartbeat; return the claims."""
        if not connection.in_atomic_block:  # (never true in the worker; tests run inside one)
            close_old_connections()
        now = now or timezone.now()
        reaped_b, reaped_r = reap_stale(
            now,
            stale_seconds=self.stale_seconds,
            live_backup_ids=self.live_ids(BACKUP),
            live_restore_ids=self.live_ids(RESTORE),
        )
        for pk in reaped_b:
            self.log(f"backup {pk}: {INTERRUPTED} (stale heartbeat)")
        for pk in reaped_r:
            self.log(f"restore {pk}: {INTERRUPTED} (stale heartbeat)")
        claimed: list[Claimed] = []
        if not self.stopping.is_set():
            claimed = claim_due(now, self.worker_id, self.free_slots())
            for item in claimed:
                late = (timezone.now() - item.due_at).total_seconds()
                self.log(
                    f"claimed {item.kind} {item.pk} of database {item.database_id} ({late:.2f} s after due)"
                )
                self._submit(item)
        self.refresh_jobs()
        self.beat()
        return claimed

    def refresh_jobs(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_refresh < self.heartbeat_every:
            return
        self._last_refresh = time.monotonic()
        refresh_heartbeats(self.worker_id, self.live_ids(BACKUP), self.live_ids(RESTORE))

    def beat(self, *, stopped: bool = False) -> None:
        running = self.running()
        if (
            not stopped
            and running == self._last_beat_jobs
            and time.monotonic() - self._last_beat < self.BEAT_EVERY
        ):
            return
        self._last_beat = time.monotonic()
        self._last_beat_jobs = running
        try:
            worker_status.beat(self.worker_id, running_jobs=running, stopped=stopped)
        except Exception:
            log.exception("writing the worker heartbeat failed")

    def sleep_seconds(self, now: datetime | None = None) -> float:
        """Until the next due schedule, capped at 1 s (pending manual work is seen within a second)."""
        now = now or timezone.now()
        nxt = next_due_at(now)
        if nxt is None:
            return 1.0
        return min(1.0, max(0.005, (nxt - now).total_seconds()))

    # -- the long-running loop

    def run_forever(self) -> None:
        """Pass after pass until stopped; then let jobs finish within the grace period."""
        self.log(f"worker {self.worker_id} started: {self.concurrency} slots")
        maintenance = Maintenance(self)
        maintenance.start()
        try:
            while not self.stopping.is_set():
                try:
                    claimed = self.run_pass()
                except Exception:
                    log.exception("scheduler pass failed")
                    connections.close_all()
                    claimed = []
                    self.wake.wait(1.0)
                if claimed and self.free_slots():
                    continue  # more may be due right now
                try:
                    timeout = self.sleep_seconds()
                except Exception:
                    timeout = 1.0
                self.wake.wait(timeout)
                self.wake.clear()
        finally:
            self.shutdown()
            maintenance.stop()

    def run_once(self) -> list[Claimed]:
        """One pass, then wait for the jobs it claimed (or a signal), then deliver notifications."""
        claimed = self.run_pass()
        while self.running() and not self.stopping.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            self.refresh_jobs()
        self.shutdown()
        Maintenance(self).once()
        return claimed

    def shutdown(self) -> list[tuple[str, int]]:
        """Wait up to the grace period for running jobs, then interrupt what is left; return it."""
        with self.lock:
            jobs = list(self.jobs.values())
        pending = [j.future for j in jobs if j.future is not None]
        if pending:
            self.log(f"waiting up to {self.grace_seconds} s for {len(pending)} running job(s)")
            started = time.monotonic()
            # grace_seconds is re-read each round: a second signal ends the wait at once.
            while (left_s := started + self.grace_seconds - time.monotonic()) > 0:
                _, not_done = wait_futures(pending, timeout=min(0.5, left_s))
                if not not_done:
                    break
                self.refresh_jobs()
        with self.lock:
            left = [j for j in self.jobs.values()]
        interrupted = []
        if left:
            now = timezone.now()
            for job in left:
                job.cancel.set()  # the runner aborts its dump and removes its partials
            wait_futures([j.future for j in left if j.future], timeout=10)
            for job in left:
                if job.claimed.kind == BACKUP:
                    done = self._force_interrupt_backup(job.claimed.pk, now)
                else:
                    done = self._force_interrupt_restore(job.claimed.pk, now)
                if done:
                    interrupted.append((job.claimed.kind, job.claimed.pk))
                    self.log(f"{job.claimed.kind} {job.claimed.pk}: {INTERRUPTED}")
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.beat(stopped=True)
        return interrupted

    def _force_interrupt_backup(self, pk: int, now: datetime) -> bool:
        """The grace period ran out: unless it completed meanwhile, this run was interrupted."""
        from apps.notifications import notify

        changed = Backup.objects.filter(
            pk=pk, status__in=[Backup.Status.IN_PROGRESS, Backup.Status.FAILED]
        ).update(status=Backup.Status.FAILED, error=INTERRUPTED, finished_at=now)
        backup = Backup.objects.filter(pk=pk).first()
        if not changed or backup is None:
            return False  # it made it after all (completed or partial), or it is gone
        _after_interrupt(backup)
        notify.backup_finished(backup)
        return True

    def _force_interrupt_restore(self, pk: int, now: datetime) -> bool:
        return bool(
            Restore.objects.filter(
                pk=pk, status__in=[Restore.Status.IN_PROGRESS, Restore.Status.FAILED]
            ).update(status=Restore.Status.FAILED, error=INTERRUPTED, finished_at=now)
        )

    def threads_alive(self) -> bool:
        return any(t.is_alive() for t in getattr(self.pool, "_threads", ()))


class Maintenance:
    """The worker's side thread: notification delivery, stale checks, the retention sweep.

    Kept off the claiming loop so a slow webhook or a long sweep never delays
    the start of a backup.
    """

    SENDERS = 4

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._senders = ThreadPoolExecutor(max_workers=self.SENDERS, thread_name_prefix="bm-notify")
        self._in_flight: set[Future] = set()
        self._last: dict[str, float] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bm-maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._senders.shutdown(wait=False, cancel_futures=False)

    def _due(self, name: str, every: float) -> bool:
        now = time.monotonic()
        if now - self._last.get(name, -1e9) >= every:
            self._last[name] = now
            return True
        return False

    def step(self, *, inline: bool = False) -> None:
        from apps.notifications import notify
        from apps.backups import retention

        s = self.scheduler
        if self._due("stale", s.STALE_CHECK_EVERY):
            _safely(notify.check_stale)
        if self._due("retention", s.RETENTION_EVERY):
            _safely(retention.sweep)
        if self._due("prune", s.PRUNE_EVERY):
            _safely(worker_status.prune)
        if inline:
            _safely(lambda: notify.deliver_due())
            return
        # Claim only what the senders can start now: a claimed row waits "sending".
        self._in_flight = {f for f in self._in_flight if not f.done()}
        room = 2 * self.SENDERS - len(self._in_flight)
        if room <= 0:
            return
        for entry in _safely(lambda: notify.claim_due(limit=room)) or []:
            self._in_flight.add(self._senders.submit(notify._deliver_in_thread, entry))

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
                self._stop.wait(self.scheduler.MAINTENANCE_EVERY)
        finally:
            connections.close_all()

    def once(self, budget_seconds: float = 20.0) -> None:
        """For `--once`: stale check, retention when the minute is a multiple of 15, deliveries inline."""
        from apps.notifications import notify
        from apps.backups import retention

        _safely(notify.check_stale)
        if timezone.now().minute % 15 == 0:
            _safely(retention.sweep)
        deadline = time.monotonic() + budget_seconds
        while time.monotonic() < deadline:
            futures = []
            entries = _safely(lambda: notify.claim_due(limit=20)) or []
            if not entries:
                break
            for entry in entries:
                futures.append(self._senders.submit(notify._deliver_in_thread, entry))
            wait_futures(futures, timeout=max(0.1, deadline - time.monotonic()))
        self._senders.shutdown(wait=False)


class keep_alive:  # noqa: N801 - used as a context manager
    """Refresh heartbeat_at of one running backup or restore every few seconds from a side thread.

    For code that runs a job outside the worker loop (e.g. a foreground
    `manage.py backup`): a dump that blocks produces no progress, and without
    this another worker's reaper would take the run for dead.

        with keep_alive(backup):
            run_backup(backup)
    """

    def __init__(self, obj, every: float = 5.0) -> None:
        self.model, self.pk, self.every = type(obj), obj.pk, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bm-keep-alive", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                self.model.objects.filter(pk=self.pk, status="in_progress").update(
                    heartbeat_at=timezone.now()
                )
        except Exception:
            log.exception("keep_alive for %s %s failed", self.model.__name__, self.pk)
        finally:
            connections.close_all()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _safely(fn):
    try:
        return fn()
    except Exception:
        log.exception("worker maintenance step %s failed", getattr(fn, "__name__", fn))
        return None


def hard_exit_if_stuck(scheduler: Scheduler, code: int = 0) -> None:
    """Leave the process even if a runner thread ignores cancellation (threads cannot be killed)."""
    if scheduler.threads_alive():
        logging.shutdown()
        os._exit(code)
