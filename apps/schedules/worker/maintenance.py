"""The worker's side thread: notification delivery, stale checks, the retention sweep, pruning."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from django.db import connections
from django.utils import timezone

from apps.backups import retention
from apps.backups.streams import remove_dead_workdirs
from apps.notifications import delivery, digest, notify
from apps.schedules import worker_status
from apps.schedules.worker.threads import safely

log = logging.getLogger(__name__)


class Maintenance:
    """Periodic steps kept off the claiming loop, so a slow webhook or a long sweep never delays a backup.

    `scheduler` supplies the periods (MAINTENANCE_EVERY, STALE_CHECK_EVERY,
    RETENTION_EVERY, PRUNE_EVERY).
    """

    SENDERS = 4
    # How often a worker asks whether the weekly digest is due (WatchdogMark: once a week in all).
    DIGEST_CHECK_EVERY = 3600.0
    # How often a worker removes the run folders of dead processes on its host (also at start).
    WORKDIR_SWEEP_EVERY = 600.0

    def __init__(self, scheduler: Any) -> None:
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

    def step(self) -> None:
        """One round: the periodic checks that are due, then hand due notifications to the senders."""
        s = self.scheduler
        if self._due("stale", s.STALE_CHECK_EVERY):
            safely(notify.check_stale)
        if self._due("retention", s.RETENTION_EVERY):
            safely(retention.sweep)
        if self._due("prune", s.PRUNE_EVERY):
            safely(worker_status.prune)
        if self._due("digest", self.DIGEST_CHECK_EVERY):
            safely(digest.run_if_due)
        if self._due("workdirs", self.WORKDIR_SWEEP_EVERY):
            # Run folders of processes on this host that died (another worker, a killed command).
            for path in safely(remove_dead_workdirs) or []:
                log.info("removed %s, left by a process that died", path)
        # Claim only what the senders can start now: a claimed row waits "sending".
        self._in_flight = {f for f in self._in_flight if not f.done()}
        room = 2 * self.SENDERS - len(self._in_flight)
        if room <= 0:
            return
        for entry in safely(lambda: delivery.claim_due(limit=room)) or []:
            self._in_flight.add(self._senders.submit(delivery.deliver_in_thread, entry))

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
                self._stop.wait(self.scheduler.MAINTENANCE_EVERY)
        finally:
            connections.close_all()

    def once(self, budget_seconds: float = 20.0) -> None:
        """For `--once`: stale check, retention when the minute is a multiple of 15, deliveries."""
        safely(notify.check_stale)
        if timezone.now().minute % 15 == 0:
            safely(retention.sweep)
        safely(digest.run_if_due)
        deadline = time.monotonic() + budget_seconds
        while time.monotonic() < deadline:
            entries = safely(lambda: delivery.claim_due(limit=20)) or []
            if not entries:
                break
            futures = [self._senders.submit(delivery.deliver_in_thread, entry) for entry in entries]
            wait_futures(futures, timeout=max(0.1, deadline - time.monotonic()))
        self._senders.shutdown(wait=False)
