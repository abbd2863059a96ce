"""Age encryption keys of a group: databases choose one to encrypt their backups."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from apps.common import age
from apps.common.fields import EncryptedTextField

NAME_MAX = 100


class GroupKey(models.Model):
    """An age X25519 key of a group: its public recipient, and its secret identity only when kept."""

    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="encryption_keys")
    name = models.CharField(max_length=NAME_MAX)
    recipient = models.CharField(max_length=100, help_text="The public key backups are encrypted to (age1…).")
    # The secret key (AGE-SECRET-KEY-1…), encrypted at rest; blank when the owner keeps it elsewhere.
    identity = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "name"]
        constraints = [
            # Names are unique per group whatever their case; also serves the group page's list.
            models.UniqueConstraint("group", Lower("name"), name="groupkey_group_lower_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_identity(self) -> bool:
        return bool(self.identity)

    def clean(self) -> None:
        """The recipient is a valid age X25519 public key, a kept identity is its secret key,
        and a key in use stays in its databases' group."""
        if self.pk and self.group_id and self.databases.exclude(group_id=self.group_id).exists():
            raise ValidationError({"group": "Databases of another group use this key: it cannot move."})
        try:
            self.recipient = age.parse_recipient(self.recipient or "")
        except age.AgeError as exc:
            raise ValidationError({"recipient": str(exc)}) from None
        if self.identity:
            try:
                matches = age.recipient_of(self.identity) == self.recipient
            except age.AgeError as exc:
                raise ValidationError({"identity": str(exc)}) from None
            if not matches:
                raise ValidationError({"identity": "This secret key does not belong to the recipient."})
