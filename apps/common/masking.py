"""Removing secrets from text that goes into logs, errors and responses."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "********"


def _pattern(secret: str) -> str:
    """The secret as a whole token: not glued to letters, digits or _ on a side where it has one.

    A short password such as "x" must not be masked inside "expired" (the mask would show
    viewers where the password's letters are); tool output quotes a secret as a token of
    its own (`password=x`, `'x'`, `user:x@host`).
    """
    body = re.escape(secret)
    before = r"(?<!\w)" if re.match(r"\w", secret[0]) else ""
    after = r"(?!\w)" if re.match(r"\w", secret[-1]) else ""
    return before + body + after


def mask_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """Return text with every whole occurrence of every non-empty secret replaced by a fixed mask.

    The mask has one length whatever the secret's, and longer secrets go first so that one
    secret containing another is masked whole.
    """
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not ordered or not text:
        return text
    return re.sub("|".join(_pattern(s) for s in ordered), MASK, text)


def tail(text: str, limit: int = 2000) -> str:
    """Return the last `limit` characters of text, marked when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return "…" + text[-limit:]
