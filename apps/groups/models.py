"""Groups organise databases; members reach them through Memberships."""

from __future__ import annotations

from django.conf import settings
from django.db import models

# accounts.models names Group by string ("groups.Group"), so this import is one-way.
from apps.accounts.models import Membership


class GroupQuerySet(models.QuerySet):
    def visible_to(self, user) -> GroupQuerySet:
        """Groups the user may see: all for superusers, else those they belong to."""
        if not user or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self.all()
        return self.filter(memberships__user=user).distinct()

    def with_role(self, user) -> GroupQuerySet:
        """Annotate `my_role`: the user's role in each group (owner for superusers), in one query."""
        if not user or not user.is_authenticated:
            return self.annotate(my_role=models.Value(None, output_field=models.CharField()))
        if user.is_superuser:
            return self.annotate(my_role=models.Value(Membership.Role.OWNER, output_field=models.CharField()))
        mine = Membership.objects.filter(group=models.OuterRef("pk"), user=user).values("role")[:1]
        return self.annotate(my_role=models.Subquery(mine))


class Group(models.Model):
    """A team's collection of databases, with its members and their roles."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GroupQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
