"""Removing secrets from text that goes into logs, errors and responses."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "********"


def mask_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """Return text with every non-empty secret replaced by a mask."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def tail(text: str, limit: int = 2000) -> str:
    """Return the last `limit` characters of text, marked when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return "…" + text[-limit:]
