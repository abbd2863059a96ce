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
        head, _, rest = self.group_path.partition("__")
        if rest:
            # One hop at a time, as a subquery: "database_id IN (the user's databases)" lets the
            # database count a 100 000-row table by index alone (a join to the memberships cannot),
            # 17 -> 7 ms for the backup list's COUNT(*) on PostgreSQL. Same rows either way.
            parent = self.model._meta.get_field(head).related_model
            visible = parent._default_manager.all().visible_to(user)  # type: ignore[union-attr]
            return self.filter(**{f"{head}__in": visible.values("pk")})
        return self.filter(**{f"{self.group_path}__memberships__user": user})
