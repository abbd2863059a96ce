"""Rules between two databases that more than one app needs (no HTTP, no other app's models)."""

from __future__ import annotations

from typing import Any


def drill_target_problem(source: Any, target: Any) -> str:
    """Why `target` cannot receive restore drills of `source`'s backups ("" when it can).

    A drill empties its target before and after, so the target is a scratch
    database: never the source, always in the same group and of the same engine.
    """
    if target.pk == source.pk:
        return "The drill target must be another database: a drill empties it before and after."
    if target.group_id != source.group_id:
        return "The drill target must be a database of the same group."
    if target.engine != source.engine:
        return f"The drill target must be a {source.engine} database like the source."
    return ""
