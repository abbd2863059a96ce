"""BM_LOG_FORMAT=json: every line a run logs names the run and its database, copies their destination."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest
from django.utils import timezone

from apps.backups.services import queue_manual_backup
from apps.common.logformat import JsonFormatter, in_context, log_context
from apps.schedules import worker


@pytest.fixture
def json_lines():
    """Every log line of the test as parsed JSON, through the formatter BM_LOG_FORMAT=json uses."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.django_db(transaction=True)
def test_a_worker_run_logs_its_id_database_and_each_copys_destination(
    sqlite_database, make_destination, user, json_lines
):
    make_destination(sqlite_database, name="disk-a")
    make_destination(sqlite_database, name="disk-b")
    backup, _ = queue_manual_backup(sqlite_database, user)
    [claimed] = worker.claim_due(timezone.now(), "w", limit=1)

    worker.run_job(claimed.kind, claimed.pk)

    lines = [line for line in json_lines() if line.get("run_id") == backup.pk]
    finished = [line for line in lines if line.get("event") == "run_finished"]
    assert len(finished) == 1 and finished[0]["database"] == "Orders DB"
    assert finished[0]["run_kind"] == "backup"
    copies = {line["destination"]: line for line in lines if line.get("event") == "copy_finished"}
    assert set(copies) == {"disk-a", "disk-b"}
    assert all(line["database"] == "Orders DB" and "completed" in line["message"] for line in copies.values())


def test_the_context_follows_into_threads_and_a_records_own_extra_wins(json_lines):
    log = logging.getLogger("apps.backups.pipeline")
    with log_context(run_id=3, database="shop"):
        thread_target = in_context(lambda: log.warning("writer says", extra={"database": "other"}), copy_id=9)
    log.warning("outside")  # no context once the block is left
    t = threading.Thread(target=thread_target)
    t.start()
    t.join()
    outside, inside = json_lines()
    assert "run_id" not in outside and "database" not in outside
    assert (inside["run_id"], inside["copy_id"], inside["database"]) == (3, 9, "other")
