"""The worker (`manage.py runscheduler`), split by job.

- `claims`: claim due schedule slots, queued backups, restores and verifications.
- `reaper`: heartbeat this worker's runs; interrupt the runs of dead workers.
- `loop`: the Scheduler: passes, the job pool, signals, shutdown.
- `maintenance`: the side thread (notification delivery, stale checks, retention sweep).
- `threads`: small thread helpers.

The names below are the worker's public surface, used by the commands and tests.
"""

from apps.schedules.worker.claims import (
    BACKUP,
    DRILL,
    RESTORE,
    VERIFICATION,
    Claimed,
    busy_database_ids,
    claim_backup,
    claim_drill,
    claim_due,
    claim_restore,
    claim_schedule,
    claim_verification,
    lock_free_database,
    next_due_at,
)
from apps.schedules.worker.loop import Scheduler, run_job
from apps.schedules.worker.maintenance import Maintenance
from apps.schedules.worker.reaper import reap_stale, refresh_heartbeats
from apps.schedules.worker.threads import hard_exit_if_stuck

__all__ = [
    "BACKUP",
    "DRILL",
    "RESTORE",
    "VERIFICATION",
    "Claimed",
    "Maintenance",
    "Scheduler",
    "busy_database_ids",
    "claim_backup",
    "claim_drill",
    "claim_due",
    "claim_restore",
    "claim_schedule",
    "claim_verification",
    "hard_exit_if_stuck",
    "lock_free_database",
    "next_due_at",
    "reap_stale",
    "refresh_heartbeats",
    "run_job",
]
