"""Small thread helpers of the worker loop."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from apps.backups.streams import remove_own_workdirs

log = logging.getLogger(__name__)

T = TypeVar("T")


def safely(fn: Callable[[], T]) -> T | None:
    """Run one maintenance step; log and swallow its failure (the loop must go on)."""
    try:
        return fn()
    except Exception:
        log.exception("worker maintenance step %s failed", getattr(fn, "__name__", fn))
        return None


def hard_exit_if_stuck(scheduler: Any, code: int = 0) -> None:
    """Leave the process even if a runner thread ignores cancellation (threads cannot be killed)."""
    if scheduler.threads_alive():
        # The stuck job's run folder (password files, a SQLite snapshot) goes with the process.
        for path in safely(remove_own_workdirs) or []:
            log.warning("removed %s, left by a job that did not stop in time", path)
        logging.shutdown()
        os._exit(code)
