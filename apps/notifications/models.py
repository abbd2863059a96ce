"""Notification channels per group and the log of every delivery attempt."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone

from apps.common.fields import EncryptedTextField
from apps.notifications import apprise_urls


class NotificationChannel(models.Model):
    """Where a group's backup events are sent: an email address or a webhook URL."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"
        APPRISE = "apprise", "Apprise (Slack, Discord, Telegram, ntfy, Gotify, ...)"

    class Event(models.TextChoices):
        FAILED = "failed", "Backup failed"
        PARTIAL = "partial", "Backup partial"
        RECOVERED = "recovered", "Backups recovered"
        STALE = "stale", "No recent backup"
        ANOMALY = "anomaly", "Backup size anomaly"
        DRILL_FAILED = "drill_failed", "Restore drill failed"
        DIGEST = "digest", "Weekly digest"

    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="notification_channels")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.CharField(max_length=2048)
    events = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    # HMAC-SHA256 key for webhook signatures; write-only in the API.
    secret = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "id"]
        indexes = [
            # notify.emit(): the enabled channels of one group.
            models.Index(fields=["group", "enabled"], name="channel_group_enabled_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.target}"

    @property
    def has_secret(self) -> bool:
        return bool(self.secret)

    def public_target(self) -> str:
        """The target as shown to members below owner: a webhook or Apprise URL often carries a token."""
        if self.kind == self.Kind.APPRISE:
            return apprise_urls.public(self.target)
        if self.kind != self.Kind.WEBHOOK:
            return self.target
        parts = urlsplit(self.target)
        return f"{parts.scheme}://{parts.hostname}/…"

    def wants(self, event: str) -> bool:
        """Return True if this channel is enabled and subscribed to event."""
        return self.enabled and event in (self.events or [])


BAD_EMAIL = "Enter a valid email address."
BAD_WEBHOOK = "Enter an http:// or https:// URL for the webhook."
BAD_APPRISE = (
    "Enter one Apprise URL that Apprise accepts (for example ntfy://host/topic or json://host/path)."
)


def clean_target(kind: str, target: str) -> str:
    """Return the stripped target, or raise ValidationError when it does not suit the kind."""
    target = (target or "").strip()
    if kind == NotificationChannel.Kind.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            raise ValidationError(BAD_EMAIL) from None
    elif kind == NotificationChannel.Kind.WEBHOOK:
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(BAD_WEBHOOK)
    elif kind == NotificationChannel.Kind.APPRISE:
        if not apprise_urls.valid(target):
            raise ValidationError(BAD_APPRISE)
    return target


SECRET_NOT_SIGNED = "Only webhooks sign their requests: leave the secret empty."


def clean_secret(kind: str, secret: str) -> None:
    """Raise ValidationError when a signing secret is given for a kind that does not sign (not webhook)."""
    if secret and kind != NotificationChannel.Kind.WEBHOOK:
        raise ValidationError(SECRET_NOT_SIGNED)


class NotificationLog(models.Model):
    """One message to one channel: queued, retried with back-off, then sent or failed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    TEST_EVENT = "test"

    channel = models.ForeignKey(
        NotificationChannel, null=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    event = models.CharField(max_length=20)
    database = models.ForeignKey(
        "databases.Database", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    backup = models.ForeignKey(
        "backups.Backup", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    response_code = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The delivery step: pending rows whose next attempt is due.
            models.Index(fields=["status", "next_attempt_at"], name="notif_log_due_idx"),
            # Stale de-duplication: was this event already sent for this database lately?
            models.Index(fields=["database", "event", "-created_at"], name="notif_log_db_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → channel {self.channel_id} ({self.status})"
