"""`python manage.py runscheduler [--once]`: the worker that runs schedules, manual backups and restores."""

from __future__ import annotations

import logging
import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.schedules.worker import Scheduler, hard_exit_if_stuck

logger = logging.getLogger("apps.schedules.worker")


def lower_priority(nice: int) -> int:
    """Run this process (and the dump tools it starts) at `nice` or lower priority; return its nice.

    Never raises priority: a worker started under a higher nice keeps it (raising it needs root).
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)


class Command(BaseCommand):
    help = (
        "Run due scheduled backups, queued manual backups and restores. Runs until SIGTERM/SIGINT "
        "(then lets running jobs finish within BM_WORKER_GRACE_SECONDS); --once does a single pass "
        "for cron (see `manage.py crontab add`)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="claim what is due now, run it, and exit")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="jobs run at once (default BM_WORKER_CONCURRENCY)",
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=None,
            help="seconds running jobs get after SIGTERM (default BM_WORKER_GRACE_SECONDS)",
        )
        parser.add_argument("--worker-id", default=None, help="name in heartbeats (default host:pid:random)")

    def handle(
        self, *args, once: bool = False, concurrency=None, grace=None, worker_id=None, **options
    ) -> None:
        if concurrency is not None and not 1 <= concurrency <= 64:
            raise CommandError("--concurrency must be between 1 and 64")
        if grace is not None and grace < 0:
            raise CommandError("--grace must be 0 or more")
        # The worker's lines go through logging only (BM_LOG_FORMAT, BM_LOG_LEVEL), once each:
        # they used to be written to stdout as well, so every line appeared twice.
        if int(options.get("verbosity", 1)) == 0:
            logger.setLevel(logging.WARNING)

        def say(message: str) -> None:
            logger.info("%s", message, extra={"event": "worker"})

        nice = lower_priority(int(settings.BM_WORKER_NICE))
        scheduler = Scheduler(concurrency=concurrency, grace_seconds=grace, worker_id=worker_id, log_fn=say)
        say(f"worker {scheduler.worker_id} runs at CPU priority nice {nice} (BM_WORKER_NICE)")
        scheduler.install_signal_handlers()
        if once:
            scheduler.run_once()
        else:
            scheduler.run_forever()
        say(f"worker {scheduler.worker_id} stopped")
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        hard_exit_if_stuck(scheduler, 0)
