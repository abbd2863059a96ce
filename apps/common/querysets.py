"""Query sets scoped to the groups a user belongs to."""

from __future__ import annotations

from django.db import models


class GroupScopedQuerySet(models.QuerySet):
    """Rows reachable through `group_path` (e.g. "database__group") from the user's groups.

    Superusers see every row; anonymous users none.
    """

    group_path: str = "group"

    def visible_to(self, user):
        if not user or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self.all()
        return self.filter(**{f"{self.group_path}__memberships__user": user})
