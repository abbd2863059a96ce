"""The `runscheduler` loop: a pool of job threads fed by short claiming passes.

Modelled on healthchecks' `sendalerts`: signals only set a flag, each pass
does small units of work (reap, claim, heartbeat), and the loop sleeps in
short slices until the next due time. The worker only schedules: running a
job is the runner's business and what follows a finished run (notifications,
retention) is the lifecycle's `run_finished` event's.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, connections
from django.utils import timezone

from apps.backups import lifecycle
from apps.backups.drill import run_drill
from apps.backups.models import Run
from apps.backups.restore import run_restore
from apps.backups.runner import run_backup
from apps.backups.streams import remove_dead_workdirs
from apps.backups.verification import run_verification
from apps.common.logformat import log_context
from apps.schedules import worker_status
from apps.schedules.worker.claims import (
    BACKUP,
    DRILL,
    MODELS,
    RESTORE,
    VERIFICATION,
    Claimed,
    claim_due,
    next_due_at,
)
from apps.schedules.worker.maintenance import Maintenance
from apps.schedules.worker.reaper import reap_stale, refresh_heartbeats

log = logging.getLogger(__name__)

RUNNERS: dict[str, Callable[..., Any]] = {
    BACKUP: run_backup,
    RESTORE: run_restore,
    VERIFICATION: run_verification,
    DRILL: run_drill,
}


def run_job(kind: str, pk: int, cancel: threading.Event | None = None) -> Run | None:
    """Run one claimed job to its end with its runner; return the run (None if it is gone)."""
    run = MODELS[kind]._default_manager.filter(pk=pk).first()
    if run is None:
        return None
    # Every line logged while it runs (any module, its writer threads too) names the run.
    with log_context(run_id=pk, run_kind=kind, database=_database_name(run)):
        return RUNNERS[kind](run, cancel=cancel)


def _database_name(run: Run) -> str | None:
    """The database a run works on: a backup's source, a restore's or drill's target, a verified backup's."""
    database = getattr(run, "target_database", None) or getattr(run, "database", None)
    if database is None and getattr(run, "backup", None) is not None:
        database = run.backup.database  # type: ignore[attr-defined]
    return database.name if database is not None else None


@dataclass
class Job:
    claimed: Claimed
    cancel: lifecycle.Cancel = field(default_factory=lifecycle.Cancel)
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
        log_fn: Callable[[str], None] | None = None,
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

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals += 1
        if self._signals > 1:
            self.grace_seconds = 0
        self.stopping.set()
        self.wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    # -- job bookkeeping

    def live(self) -> dict[str, set[int]]:
        """This worker's running jobs: {kind: ids}."""
        live: dict[str, set[int]] = {kind: set() for kind in MODELS}
        with self.lock:
            for kind, pk in self.jobs:
                live[kind].add(pk)
        return live

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
            run_job(job.claimed.kind, job.claimed.pk, job.cancel)  # the lifecycle logs how it ended
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
        reaped = reap_stale(now, stale_seconds=self.stale_seconds, live=self.live())
        for kind, pks in reaped.items():
            for pk in pks:
                self.log(f"{kind} {pk}: {lifecycle.INTERRUPTED} (stale heartbeat)")
        claimed: list[Claimed] = []
        if not self.stopping.is_set():
            claimed = claim_due(now, self.worker_id, self.free_slots())
            for item in claimed:
                late = (timezone.now() - item.due_at).total_seconds()
                of = f" of database {item.database_id}" if item.database_id else ""
                self.log(f"claimed {item.kind} {item.pk}{of} ({late:.2f} s after due)")
                self._submit(item)
        self.refresh_jobs()
        self.beat()
        return claimed

    def refresh_jobs(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_refresh < self.heartbeat_every:
            return
        self._last_refresh = time.monotonic()
        refresh_heartbeats(self.worker_id, self.live())

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

    def _start(self) -> None:
        for path in remove_dead_workdirs():
            self.log(f"removed {path}, left by a process that died")

    # -- the long-running loop

    def run_forever(self) -> None:
        """Pass after pass until stopped; then let jobs finish within the grace period."""
        self.log(f"worker {self.worker_id} started: {self.concurrency} slots")
        self._start()
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
        self._start()
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
            left = list(self.jobs.values())
        interrupted = []
        if left:
            for job in left:
                job.cancel.cancel(lifecycle.INTERRUPTED)  # the runner aborts and removes its partials
            wait_futures([j.future for j in left if j.future], timeout=10)
            for job in left:
                if self._interrupted(job):
                    interrupted.append((job.claimed.kind, job.claimed.pk))
                    self.log(f"{job.claimed.kind} {job.claimed.pk}: {lifecycle.INTERRUPTED}")
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.beat(stopped=True)
        return interrupted

    def _interrupted(self, job: Job) -> bool:
        """The grace period ran out: end the run as interrupted unless its runner ended it already."""
        model = MODELS[job.claimed.kind]
        run = model._default_manager.filter(pk=job.claimed.pk).first()
        if run is None:
            return False
        if lifecycle.interrupt(run, worker_id=self.worker_id):
            return True  # its runner thread ignored the cancel: ended here
        # The runner honoured the cancel and finished it with the cancel's reason.
        return bool(run.status == "failed" and run.error == lifecycle.INTERRUPTED)

    def threads_alive(self) -> bool:
        return any(t.is_alive() for t in getattr(self.pool, "_threads", ()))
