"""Parsing ids from query strings and forms: bad values never reach the database as a 500."""

from __future__ import annotations

import re

from rest_framework.exceptions import ValidationError

# Row ids are positive 64-bit integers; 18 ASCII digits always fit.
_ID = re.compile(r"[0-9]{1,18}")


def parse_id(raw: object) -> int | None:
    """Return raw as a positive row id, or None when it is not one (e.g. "abc", "²", 10**30)."""
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        return None
    value = int(raw)
    return value or None


def int_query_param(request, name: str) -> int | None:
    """Return ?name= as a row id, None when absent; 400 naming the parameter when not a valid id."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = parse_id(raw)
    if value is None:
        raise ValidationError({name: [f"must be a positive integer id, not {raw!r}"]})
    return value
