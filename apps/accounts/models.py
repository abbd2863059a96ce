"""Group memberships and roles (users are Django's own)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Membership(models.Model):
    """A user's role in one group."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        OPERATOR = "operator", "Operator"
        OWNER = "owner", "Owner"

    RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.OWNER: 3}

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "user_id"]
        constraints = [
            # One role per user and group; also serves the "role of user in group" lookup.
            models.UniqueConstraint(fields=["user", "group"], name="membership_user_group_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.group} ({self.role})"
