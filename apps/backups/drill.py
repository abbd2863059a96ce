"""Restore drills: prove a backup restores by loading it into a scratch database and checking it.

A drill is a run like the others (claimed once, heartbeated, interruptible,
finished through the lifecycle). It empties its target, restores the backup
into it (as a Restore row of its own, so the target's history says what
happened), compares what arrived with the inventory recorded at backup time,
and empties the target again. Each check is recorded with what was expected
and what was found; the drill passes only when every check does.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.utils import timezone

from apps.backups import lifecycle
from apps.backups.models import Drill, Restore
from apps.backups.restore import run_restore
from apps.backups.runner import clean_error
from apps.engines import inventory
from apps.engines.base import EngineError

log = logging.getLogger(__name__)

# Estimated counts (PostgreSQL reltuples, MySQL table_rows) may be off; an exact count must match.
ESTIMATE_TOLERANCE = 0.5
ESTIMATE_SLACK = 100


def run_drill(drill: Drill, *, cancel: threading.Event | None = None) -> Drill:
    """Run a pending (or claimed) drill to its end; return it, passed or failed."""
    if not lifecycle.start(drill):
        return drill
    cancel = cancel if cancel is not None else lifecycle.Cancel()
    checks: list[dict[str, Any]] = []
    secrets: list[str] = []
    restore_id = None
    try:
        restore_id, error = _run_drill(drill, cancel, checks, secrets)
    except Exception as exc:
        log.exception("Drill %s failed unexpectedly", drill.pk)
        error = f"Internal error: {exc}"
    passed = not error and bool(checks) and all(c["ok"] for c in checks)
    if not error and not passed:
        failed = [c["name"] for c in checks if not c["ok"]]
        error = "Failed checks: " + ", ".join(failed)
    lifecycle.finish(
        drill,
        Drill.Status.PASSED if passed else Drill.Status.FAILED,
        clean_error(error, secrets),
        fields={"checks": checks, "restore_id": restore_id},
    )
    return drill


def _check(checks: list[dict[str, Any]], name: str, ok: bool, expected: Any, actual: Any) -> bool:
    checks.append({"name": name, "ok": bool(ok), "expected": expected, "actual": actual})
    return bool(ok)


def _run_drill(
    drill: Drill, cancel: threading.Event, checks: list[dict[str, Any]], secrets: list[str]
) -> tuple[int | None, str]:
    backup, target = drill.backup, drill.target_database
    if target.pk == backup.database_id:
        return None, "A drill never restores into the backup's own database"
    conn = target.connection_info()
    secrets.extend(conn.secrets)
    recorded = inventory.Inventory.from_dict(backup.inventory)

    try:
        inventory.empty(conn)
    except EngineError as exc:
        _check(checks, "target emptied before", False, "empty", str(exc))
        return None, ""
    _check(checks, "target emptied before", True, "empty", "empty")

    now = timezone.now()
    restore = Restore.objects.create(
        backup=backup,
        target_database=target,
        status=Restore.Status.IN_PROGRESS,
        worker_id=drill.worker_id,
        requested_by=drill.requested_by,
        started_at=now,
        heartbeat_at=now,
    )
    with lifecycle.keep_alive(restore):
        restore = run_restore(restore, cancel=cancel)
    restored = _check(
        checks,
        "restore reported no error",
        restore.status == Restore.Status.COMPLETED,
        "completed",
        restore.status if not restore.error else f"{restore.status}: {restore.error}",
    )
    if restored:
        _compare(checks, recorded, conn)
    try:
        inventory.empty(conn)
        _check(checks, "target emptied after", True, "empty", "empty")
    except EngineError as exc:
        _check(checks, "target emptied after", False, "empty", str(exc))
    return restore.pk, ""


def _compare(checks: list[dict[str, Any]], recorded: inventory.Inventory | None, conn) -> None:
    try:
        found = inventory.take(conn, exact=True)
    except EngineError as exc:
        _check(checks, "tables readable", False, "the restored tables", str(exc))
        return
    if recorded is None:
        _check(checks, "tables present", bool(found.tables), "at least one table", sorted(found.tables))
        return
    expected_tables = sorted(recorded.tables)
    missing = [t for t in expected_tables if t not in found.tables]
    _check(checks, "tables present", not missing, expected_tables, sorted(found.tables))
    for table, expected in sorted(recorded.tables.items()):
        actual = found.tables.get(table)
        if actual is None or expected is None:
            if actual is not None:
                _check(checks, f"rows in {table}", True, "unknown at backup time", actual)
            continue
        if recorded.exact:
            _check(checks, f"rows in {table}", actual == expected, expected, actual)
        else:
            low = expected * (1 - ESTIMATE_TOLERANCE) - ESTIMATE_SLACK
            high = expected * (1 + ESTIMATE_TOLERANCE) + ESTIMATE_SLACK
            _check(checks, f"rows in {table}", low <= actual <= high, f"≈{expected} (estimate)", actual)
