"""Query-string parsing for list filters: bad values are a 400 naming the parameter."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError


def int_query_param(request, name: str) -> int | None:
    """Return ?name= as an int, None when absent; 400 when not a positive integer."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: f"must be an integer, not {raw!r}"}) from None
    if value < 1:
        raise ValidationError({name: "must be a positive integer"})
    return value
