"""Query-string filters: ids and choices parsed strictly, so bad values are a 400, never a 500.

The API's list filters are django-filter FilterSets (DjangoFilterBackend is the default
backend) built from IdFilter and choice_filter; pages and forms use parse_id directly.
"""

from __future__ import annotations

import re

import django_filters
from django import forms
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


class IdField(forms.Field):
    """A form field for a row id given in a query string (parse_id's rules)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        parsed = parse_id(value)
        if parsed is None:
            raise forms.ValidationError(f"must be a positive integer id, not {value!r}", code="invalid")
        return parsed


class IdFilter(django_filters.Filter):
    """`?name=<id>`: filters on a row id; anything else is a 400 naming the parameter."""

    field_class = IdField


def choice_filter(choices, **kwargs) -> django_filters.ChoiceFilter:
    """`?name=<value>` among `choices`; anything else is a 400 listing them."""
    values = ", ".join(value for value, _ in choices)
    return django_filters.ChoiceFilter(
        choices=choices,
        error_messages={"invalid_choice": f"must be one of {values}, not %(value)r"},
        **kwargs,
    )
