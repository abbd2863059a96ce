"""What the pages show of notifications, for the views of any app (the group page lists channels)."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from apps.groups.models import Group
from apps.notifications.models import NotificationChannel, NotificationLog


def channels_of(group: Group, *, reveal: bool) -> list:
    """The group's notification channels, each with its latest delivery (status, time, error).

    Without `reveal` (members below owner) a webhook shows only its scheme and host: webhook
    URLs often carry their token in the path (Slack, Teams), and only owners need it.
    """
    latest = NotificationLog.objects.filter(channel=OuterRef("pk")).order_by("-created_at", "-id")
    channels = list(
        NotificationChannel.objects.filter(group=group)
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_event=Subquery(latest.values("event")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
            last_error=Subquery(latest.values("last_error")[:1]),
        )
        .order_by("id")
    )
    for channel in channels:
        # An attribute for the template only (not a model field): set as such for the type checker.
        setattr(channel, "shown_target", channel.target if reveal else channel.public_target())  # noqa: B010
    return channels
