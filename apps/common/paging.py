"""A Django Paginator whose count stops at a cap: no COUNT(*) over a whole large table per page view."""

from __future__ import annotations

from typing import cast

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property


class CappedPaginator(Paginator):
    """Pages of a queryset counted only up to `cap` rows (`capped` says when there were more).

    The count is `SELECT COUNT(*) FROM (… LIMIT cap + 1)`: it reads at most cap + 1 rows of the
    index the page query uses, so the first page costs the same on 1 000 or 1 000 000 rows. Pages
    past the cap are not offered; the caller says how to narrow the list (filters, dates).
    """

    def __init__(self, object_list, per_page, *, cap: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap

    @cached_property
    def _bounded_count(self) -> int:
        return cast(QuerySet, self.object_list)[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._bounded_count, self.cap)

    @property
    def capped(self) -> bool:
        """True when more rows matched than were counted."""
        return self._bounded_count > self.cap
