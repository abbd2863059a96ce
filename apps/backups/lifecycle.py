"""The lifecycle of runs: backups, restores and verifications.

A run moves pending → in_progress → a terminal status. Every move is a
compare-and-set UPDATE that names the status it leaves and, once claimed,
the worker that owns the run, so a run reaped by one worker can never be
finished (or notified) a second time by its first owner.

Finishing a run — by its runner, by the reaper, by a worker shutting down —
emits `run_finished` exactly once, after the row is saved. Notifications,
retention (and later metrics and the audit log) subscribe to it in their
apps' `ready()`, so the worker, `manage.py backup`, the API, the pages and
the admin all cause the same side effects without knowing of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from django.db import connections, models, transaction
from django.dispatch import Signal
from django.utils import timezone

from apps.backups.models import Backup, BackupCopy, Drill, Restore, Run
from apps.databases.models import Database
from apps.destinations.storage import StorageError, storage_for_copy

log = logging.getLogger(__name__)

# Sent once per run that reached a terminal status. kwargs: run (the instance, reloaded).
run_finished = Signal()

INTERRUPTED = "interrupted: worker stopped"
LOST = "the run was taken over (its heartbeat went stale) and finished elsewhere"

R = TypeVar("R", bound=Run)


class _Unset:
    """No heartbeat condition given (None is a real value: a run that never beat)."""


_UNSET = _Unset()


class Cancel(threading.Event):
    """A cancellation flag that carries why: the runner records `reason` as the run's error."""

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason

    def cancel(self, reason: str) -> None:
        """Ask the run to stop, recording why (the first reason wins)."""
        if not self.is_set():
            self.reason = reason
        self.set()


def stop(cancel: threading.Event, reason: str) -> None:
    """Set a run's cancel flag, recording why when the flag can carry a reason."""
    if isinstance(cancel, Cancel):
        cancel.cancel(reason)
    else:
        cancel.set()


def _rows(run: Run) -> models.QuerySet[Any]:
    return type(run)._default_manager.filter(pk=run.pk)


# --- one run per database ---------------------------------------------------------


def busy_database_ids() -> set[int]:
    """Databases with a backup running, or a restore or a drill loading into them (any worker)."""
    backups = Backup.objects.filter(status=Backup.Status.IN_PROGRESS).values_list("database_id", flat=True)
    restores = Restore.objects.filter(status=Restore.Status.IN_PROGRESS).values_list(
        "target_database_id", flat=True
    )
    drills = Drill.objects.filter(status=Drill.Status.IN_PROGRESS).values_list(
        "target_database_id", flat=True
    )
    return set(backups) | set(restores) | set(drills)


def lock_free_database(database_id: int) -> bool:
    """Inside a transaction: lock the database row and return True if nothing of it is running.

    The row lock serialises claims of the same database on PostgreSQL and
    MySQL, so two workers cannot both see it free (write skew).
    """
    if not Database.objects.select_for_update().filter(pk=database_id).exists():
        return False
    if Backup.objects.filter(database_id=database_id, status=Backup.Status.IN_PROGRESS).exists():
        return False
    if Drill.objects.filter(target_database_id=database_id, status=Drill.Status.IN_PROGRESS).exists():
        return False
    return not Restore.objects.filter(
        target_database_id=database_id, status=Restore.Status.IN_PROGRESS
    ).exists()


def create_running(model: type[R], database_id: int, worker_id: str, **fields: Any) -> R | None:
    """Create a run already in progress, owned by worker_id, unless its database is busy (then None).

    For runs started in the foreground (`manage.py backup`, `manage.py
    restore`): no worker claims it from the queue, and its heartbeat keeps
    reapers away while `keep_alive` runs.
    """
    now = timezone.now()
    with transaction.atomic():
        if not lock_free_database(database_id):
            return None
        return model._default_manager.create(
            status="in_progress", worker_id=worker_id, started_at=now, heartbeat_at=now, **fields
        )


# --- starting ------------------------------------------------------------------


def claim(model: type[Run], pk: int, worker_id: str, now: datetime | None = None) -> bool:
    """pending → in_progress, owned by worker_id; True if this call claimed it."""
    now = now or timezone.now()
    changed = model._default_manager.filter(pk=pk, status=Run.Status.PENDING).update(
        status=Run.Status.IN_PROGRESS, worker_id=worker_id, heartbeat_at=now, started_at=now
    )
    return changed == 1


def start(run: R) -> bool:
    """Make sure a run about to execute is in progress; False if it is not this caller's to run.

    A pending run is claimed for its recorded worker_id (direct calls from
    tests and commands); an in-progress one was claimed already (the worker,
    `manage.py backup`). A terminal one is left alone.
    """
    run.refresh_from_db()
    if run.status == Run.Status.PENDING:
        if not claim(type(run), run.pk, run.worker_id):
            return False
        run.refresh_from_db()
        return True
    return bool(run.status == Run.Status.IN_PROGRESS)


# --- while running --------------------------------------------------------------


def save_progress(run: Run, done: int) -> bool:
    """Record bytes done and a fresh heartbeat; False when the run is no longer ours (reaped)."""
    changed = (
        _rows(run)
        .filter(status="in_progress", worker_id=run.worker_id)
        .update(bytes_done=done, heartbeat_at=timezone.now())
    )
    return changed == 1


def heartbeat(model: type[Run], pks: Iterable[int], worker_id: str, now: datetime | None = None) -> int:
    """Touch heartbeat_at of this worker's running runs of one model; return how many rows."""
    pks = list(pks)
    if not pks:
        return 0
    return model._default_manager.filter(pk__in=pks, status="in_progress", worker_id=worker_id).update(
        heartbeat_at=now or timezone.now()
    )


class keep_alive:  # noqa: N801 - used as a context manager
    """Refresh heartbeat_at of one running run every few seconds from a side thread.

    For code that runs a job outside the worker loop (e.g. a foreground
    `manage.py backup`): a dump that blocks produces no progress, and without
    this another worker's reaper would take the run for dead. Only the run's
    own owner (its worker_id) is kept alive.

        with keep_alive(backup):
            run_backup(backup)
    """

    def __init__(self, run: Run, every: float = 5.0) -> None:
        self.model, self.pk, self.worker_id, self.every = type(run), run.pk, run.worker_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bm-keep-alive", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    heartbeat(self.model, [self.pk], self.worker_id)
                except Exception:
                    # A busy or restarting metadata database: try again next beat rather
                    # than stop beating and let a reaper take the run for dead.
                    log.exception("keep_alive for %s %s failed", self.model.__name__, self.pk)
                    connections.close_all()
        finally:
            connections.close_all()

    def __enter__(self) -> keep_alive:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# --- finishing ----------------------------------------------------------------------


def finish(
    run: R,
    status: str,
    error: str = "",
    *,
    fields: dict[str, Any] | None = None,
    then: Callable[[], None] | None = None,
) -> bool:
    """in_progress (owned by run.worker_id) → a terminal status; emit run_finished; True if done.

    `fields` are saved in the same UPDATE; `then()` runs inside the same
    transaction only when the transition won (e.g. recording each copy's
    outcome). False means someone else finished the run first (a reaper):
    nothing was written and no event was sent; the caller undoes what only it
    knows about (files it wrote).
    """
    if status not in run.TERMINAL:
        raise ValueError(f"{status!r} is not a terminal {run._meta.model_name} status")
    now = timezone.now()
    values = {
        "status": status,
        "error": error,
        "finished_at": now,
        "heartbeat_at": now,
        **dict.fromkeys(run.SECRET_FIELDS, ""),
        **(fields or {}),
    }
    with transaction.atomic():
        changed = _rows(run).filter(status="in_progress", worker_id=run.worker_id).update(**values)
        if changed != 1:
            log.warning("%s %s: not finished as %s: %s", run._meta.model_name, run.pk, status, LOST)
            return False
        if then is not None:
            then()
    run.refresh_from_db()
    # The one log line of a run's end, whoever ran it (worker, command, reaper).
    log.info(
        "%s %s: %s%s",
        run._meta.model_name,
        run.pk,
        status,
        f" ({error})" if error else "",
        extra={"event": "run_finished", "run_id": run.pk, "run_kind": run._meta.model_name},
    )
    _emit(run)
    return True


def interrupt(
    run: R,
    now: datetime | None = None,
    *,
    reason: str = INTERRUPTED,
    heartbeat_at: datetime | None | _Unset = _UNSET,
    worker_id: str | None = None,
) -> bool:
    """in_progress → failed with `reason`, for a run whose owner is gone; True if this call did it.

    With `heartbeat_at` (as the reaper read it) the move only happens when
    the heartbeat did not change meanwhile, so a reaper never overrides a
    worker that is still alive; with `worker_id` only that worker's run is
    interrupted. A backup's unwritten copies fail and their partial files go.
    """
    now = now or timezone.now()
    rows = _rows(run).filter(status="in_progress")
    if not isinstance(heartbeat_at, _Unset):
        rows = (
            rows.filter(heartbeat_at=heartbeat_at) if heartbeat_at else rows.filter(heartbeat_at__isnull=True)
        )
    if worker_id is not None:
        rows = rows.filter(worker_id=worker_id)
    if (
        rows.update(status="failed", error=reason, finished_at=now, **dict.fromkeys(run.SECRET_FIELDS, ""))
        != 1
    ):
        return False
    if isinstance(run, Backup):
        fail_unwritten_copies(run, f"Not written: {reason}")
        cleanup_partials(run)
    run.refresh_from_db()
    log.warning("%s %s: %s", run._meta.model_name, run.pk, reason)
    _emit(run)
    return True


def fail_unwritten_copies(backup: Backup, error: str) -> int:
    """Mark the copies still pending or in progress failed; return how many."""
    return BackupCopy.objects.filter(
        backup_id=backup.pk, status__in=[BackupCopy.Status.PENDING, BackupCopy.Status.IN_PROGRESS]
    ).update(status=BackupCopy.Status.FAILED, error=error)


def cleanup_partials(backup: Backup) -> list[str]:
    """Remove `<location>.partial` left by a crashed run at each destination; return what went."""
    removed = []
    for copy in backup.copies.select_related("destination"):
        if not copy.location:
            continue
        try:
            if storage_for_copy(copy).cleanup_partial(copy.location):
                removed.append(copy.location + ".partial")
        except StorageError as exc:
            log.warning("Cannot remove the partial file of backup %s: %s", backup.pk, exc)
    return removed


def _emit(run: Run) -> None:
    for receiver, result in run_finished.send_robust(sender=type(run), run=run):
        if isinstance(result, Exception):
            log.error(
                "%s %s: run_finished handler %s failed",
                run._meta.model_name,
                run.pk,
                getattr(receiver, "__qualname__", receiver),
                exc_info=result,
            )
