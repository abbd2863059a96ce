"""The audit log: who did what, when, from where, and how it ended. Rows are only ever added."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.accounts.models import Membership


class AuditEntryQuerySet(models.QuerySet):
    def visible_to(self, user) -> AuditEntryQuerySet:
        """Superusers see every entry; owners see their groups' entries; everyone else nothing."""
        if not user or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        owned = Membership.objects.filter(user=user, role=Membership.Role.OWNER).values("group_id")
        return self.filter(group_id__in=owned)


class AuditEntry(models.Model):
    """One recorded change or action; `detail` holds allow-listed, non-secret values only."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        DENIED = "denied", "Denied"

    at = models.DateTimeField(auto_now_add=True)
    # No database constraint on actor and group: an entry outlives the user or group it names
    # (a deletion is recorded while the row is being deleted, and the log is never cascaded).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    group = models.ForeignKey(
        "groups.Group",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            # An owner's audit page and GET /api/audit/?group_id=: one group's entries, newest first.
            models.Index(fields=["group", "-at"], name="audit_group_at_idx"),
            # The superuser's view of everything, newest first.
            models.Index(fields=["-at"], name="audit_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action} {self.outcome}"
