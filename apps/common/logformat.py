"""BM_LOG_FORMAT=json: one JSON object a line, for log shippers.

Every line has time (UTC, ISO 8601), level, logger and message; a record that carries
run_id, database, destination or event (``log.info(..., extra={"run_id": 7, "event": "backup"})``)
has them too, and an exception its traceback as "exc". Messages are the same text the plain
format shows, so what is kept out of one (secrets) is kept out of the other.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# Context fields a record may carry as `extra`, in the order they are written.
CONTEXT_FIELDS = ("run_id", "database", "destination", "event")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)
