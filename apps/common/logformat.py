"""BM_LOG_FORMAT=json: one JSON object a line, for log shippers.

Every line has time (UTC, ISO 8601), level, logger and message; a record that carries
run_id, database, destination or event (``log.info(..., extra={"run_id": 7, "event": "backup"})``)
has them too, and an exception its traceback as "exc". Messages are the same text the plain
format shows, so what is kept out of one (secrets) is kept out of the other.

A run sets its context once (``with log_context(run_id=7, run_kind="backup", database="shop")``)
and every line logged inside it, by any module, carries those fields; threads a run starts
inherit them through ``in_context(target)``. A record's own `extra` wins over the context.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

# Context fields a record may carry as `extra` or inherit from log_context, in the order written.
CONTEXT_FIELDS = ("run_id", "run_kind", "database", "destination", "copy_id", "event")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "bm_log_context", default=None
)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged inside carries `fields` (None values are left out) in the JSON format."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def in_context(target: Callable[[], Any], **fields: Any) -> Callable[[], Any]:
    """`target` wrapped to run in a copy of the caller's log context (plus `fields`): for new threads."""
    snapshot = contextvars.copy_context()

    def run() -> Any:
        with log_context(**fields):
            return target()

    return lambda: snapshot.run(run)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get() or {}
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is None:
                value = context.get(field)
            if value is not None:
                entry[field] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)
