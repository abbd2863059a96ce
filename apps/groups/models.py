"""Groups organise databases; members reach them through Memberships."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.exceptions import ValidationError
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


class GroupLocation(models.Model):
    """A folder on this server that one group may use: for local backups or for SQLite sources.

    Every group has, under each configured root (BM_ALLOWED_ROOTS, BM_SQLITE_ROOTS), a folder of its
    own, `<root>/group-<id>` (rows with `is_default`, made on demand by apps.groups.locations). Any
    other folder is a grant by the superuser (the admin), possibly the same folder for several groups
    on purpose. Paths, the folder picker, connection tests, backups and restores stay inside these.
    """

    class Kind(models.TextChoices):
        BACKUPS = "backups", "Backup folder"
        SQLITE = "sqlite", "SQLite source folder"

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="locations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    path = models.CharField(max_length=4096, help_text="An absolute folder on this server.")
    is_default = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "kind", "path"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "kind", "path"], name="grouplocation_group_kind_path_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.kind}: {self.path}"

    def clean(self) -> None:
        path = (self.path or "").strip()
        if not path.startswith("/") or "\x00" in path or ".." in path.split("/"):
            raise ValidationError({"path": ["Enter an absolute folder path without “..”."]})
        self.path = os.path.normpath(path)
        if self.path == "/":
            raise ValidationError({"path": ["The whole file system cannot be a group's folder."]})
