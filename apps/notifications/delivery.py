"""Sending queued notifications: claimed with a conditional UPDATE, sent with a timeout, retried.

The worker's maintenance thread claims due NotificationLog rows (so two
workers never send the same row), sends each with a short timeout on a pool
thread, and on failure schedules a retry with back-off; after MAX_ATTEMPTS
the row ends failed. Every outcome stays in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta

import apprise
from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import close_old_connections, connection, connections
from django.utils import timezone

from apps.common import outbound
from apps.notifications import apprise_urls
from apps.notifications.models import NotificationChannel, NotificationLog
from apps.notifications.notify import build_payload

log = logging.getLogger(__name__)

# Seconds to wait before attempt 2, 3, 4; the row fails after the last one.
BACKOFF_SECONDS = (10, 60, 300)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
# A webhook or SMTP server gets this long to answer.
TIMEOUT_SECONDS = 5
# A row left "sending" by a worker that died is retried after this long.
RECLAIM_AFTER = timedelta(minutes=5)
SIGNATURE_HEADER = "X-BackupManager-Signature"
EVENT_HEADER = "X-BackupManager-Event"


class DeliveryError(Exception):
    """A channel did not accept a message; the text says why (no secrets)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def sign(secret: str, body: bytes) -> str:
    """Return the signature header value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(channel: NotificationChannel, payload: dict, timeout: float = TIMEOUT_SECONDS) -> int:
    """POST the payload as JSON; return the HTTP status, or raise DeliveryError.

    Sent through apps.common.outbound: the address connected to is checked after DNS
    (BM_WEBHOOK_ALLOW_PRIVATE), redirects are not followed, and every failure to connect
    reads "the webhook could not be reached" (a closed port and a filtered one look alike).
    """
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "BackupManager",
        EVENT_HEADER: str(payload.get("event", "")),
    }
    if channel.secret:
        headers[SIGNATURE_HEADER] = sign(channel.secret, body)
    try:
        response = outbound.request("POST", channel.target, body=body, headers=headers, timeout=timeout)
    except outbound.Timeout:
        raise DeliveryError(f"no answer from the webhook within {timeout:g} s") from None
    except outbound.OutboundError as exc:
        raise DeliveryError(f"the webhook {exc}") from None
    if 300 <= response.status < 400:
        raise DeliveryError(
            f"the webhook answered HTTP {response.status} (a redirect, which is not followed)",
            response.status,
        )
    if response.status >= 400:
        raise DeliveryError(f"the webhook answered HTTP {response.status}", response.status)
    return response.status


def send_email(channel: NotificationChannel, payload: dict, timeout: float = TIMEOUT_SECONDS) -> None:
    """Send the payload's text by mail with Django's mail settings, or raise DeliveryError."""
    lines = [payload["text"], ""]
    for key in ("event", "database", "group", "backup_id", "status", "error", "url"):
        if payload.get(key) not in (None, ""):
            lines.append(f"{key}: {payload[key]}")
    try:
        send_mail(
            subject=payload["text"].splitlines()[0][:150] if payload["text"] else "",
            message="\n".join(lines),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[channel.target],
            connection=get_connection(timeout=timeout),
        )
    except Exception as exc:
        raise DeliveryError(f"the mail could not be sent: {exc}") from None


def send_apprise(channel: NotificationChannel, payload: dict, timeout: float = TIMEOUT_SECONDS) -> None:
    """Send the payload's text through Apprise, or raise DeliveryError.

    A host the user chose (json://, ntfy://host, gotify://, mmost://, mailto://...) is
    resolved and checked by the outbound guard first (BM_WEBHOOK_ALLOW_PRIVATE). Apprise
    then connects by itself: it resolves the name again and cannot be pinned to the
    checked address, unlike webhooks.
    """
    plugin = apprise_urls.instantiate(channel.target)
    if plugin is None:
        raise DeliveryError("Apprise does not accept this channel's URL")
    shown = apprise_urls.public(channel.target)
    where = apprise_urls.user_host(plugin)
    if where is not None:
        host, port = where
        try:
            outbound.resolve(
                host,
                port or apprise_urls.default_port(plugin),
                allow_private=outbound.allow_private_default(),
            )
        except outbound.OutboundError as exc:
            raise DeliveryError(f"the Apprise target {shown} {exc}") from None
    for attribute in ("socket_connect_timeout", "socket_read_timeout"):
        if hasattr(plugin, attribute):
            setattr(plugin, attribute, timeout)
    sender = apprise.Apprise()
    if not sender.add(plugin):
        raise DeliveryError("Apprise does not accept this channel's URL")
    title = (str(payload.get("text") or "").splitlines() or [""])[0][:150]
    try:
        ok = bool(sender.notify(title=title, body=payload["text"]))
    except Exception:
        ok = False
    if not ok:
        raise DeliveryError(f"Apprise could not deliver the message to {shown}")


def send(channel: NotificationChannel, payload: dict, timeout: float = TIMEOUT_SECONDS) -> int | None:
    """Send one message to one channel; return the HTTP status for webhooks; raise DeliveryError."""
    if channel.kind == NotificationChannel.Kind.WEBHOOK:
        return send_webhook(channel, payload, timeout)
    if channel.kind == NotificationChannel.Kind.APPRISE:
        send_apprise(channel, payload, timeout)
        return None
    send_email(channel, payload, timeout)
    return None


def deliver(entry: NotificationLog, now: datetime | None = None) -> bool:
    """Attempt one claimed log row; record success, a retry with back-off, or the final failure."""
    channel = entry.channel
    if channel is None:
        NotificationLog.objects.filter(pk=entry.pk).update(
            status=NotificationLog.Status.FAILED, last_error="the channel was deleted"
        )
        return False
    try:
        code = send(channel, entry.payload)
    except DeliveryError as exc:
        now = timezone.now()
        fields: dict[str, object] = {
            "last_error": str(exc)[:2000],
            "response_code": exc.code,
            "claimed_at": None,
        }
        if entry.attempts >= MAX_ATTEMPTS:
            fields["status"] = NotificationLog.Status.FAILED
        else:
            fields["status"] = NotificationLog.Status.PENDING
            fields["next_attempt_at"] = now + timedelta(seconds=BACKOFF_SECONDS[entry.attempts - 1])
        NotificationLog.objects.filter(pk=entry.pk).update(**fields)
        log.warning(
            "notification %s to channel %s: attempt %s failed: %s", entry.pk, channel.pk, entry.attempts, exc
        )
        return False
    NotificationLog.objects.filter(pk=entry.pk).update(
        status=NotificationLog.Status.SENT,
        sent_at=timezone.now(),
        response_code=code,
        last_error="",
        claimed_at=None,
    )
    return True


def claim(entry_id: int, attempts: int, now: datetime) -> bool:
    """Return True if this process claimed the row (pending and unchanged since it was read)."""
    return (
        NotificationLog.objects.filter(
            pk=entry_id, status=NotificationLog.Status.PENDING, attempts=attempts
        ).update(status=NotificationLog.Status.SENDING, attempts=attempts + 1, claimed_at=now)
        == 1
    )


def claim_due(now: datetime | None = None, limit: int = 20) -> list[NotificationLog]:
    """Claim up to `limit` due rows (and re-queue rows a dead worker left sending)."""
    now = now or timezone.now()
    NotificationLog.objects.filter(
        status=NotificationLog.Status.SENDING, claimed_at__lt=now - RECLAIM_AFTER
    ).update(status=NotificationLog.Status.PENDING, claimed_at=None)
    due = list(
        NotificationLog.objects.filter(status=NotificationLog.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("id", "attempts")[:limit]
    )
    claimed_ids = [pk for pk, attempts in due if claim(pk, attempts, now)]
    return list(NotificationLog.objects.filter(pk__in=claimed_ids).select_related("channel"))


def deliver_in_thread(entry: NotificationLog, *, close: bool = True) -> bool:
    """Deliver one claimed row, never raising; close this thread's connections after (pool threads)."""
    try:
        return deliver(entry)
    except Exception:
        log.exception("notification %s crashed", entry.pk)
        return False
    finally:
        if close:
            connections.close_all()


def deliver_due(now: datetime | None = None, limit: int = 20) -> int:
    """Claim due rows and send them one after the other; return how many were claimed.

    The worker sends on a pool of threads instead (maintenance.py); this is
    for tests and one-off use.
    """
    if not connection.in_atomic_block:  # (never true in the worker; tests run inside one)
        close_old_connections()
    entries = claim_due(now, limit)
    for entry in entries:
        deliver_in_thread(entry, close=False)
    return len(entries)


def send_test(channel: NotificationChannel) -> dict:
    """Send a test message now (no retry) and log it; return {"ok", "message", "delivery_id"}."""
    payload = build_payload(NotificationLog.TEST_EVENT, group=channel.group)
    entry = NotificationLog.objects.create(
        channel=channel,
        event=NotificationLog.TEST_EVENT,
        payload=payload,
        status=NotificationLog.Status.SENDING,
        attempts=1,
        claimed_at=timezone.now(),
    )
    try:
        code = send(channel, payload)
    except DeliveryError as exc:
        NotificationLog.objects.filter(pk=entry.pk).update(
            status=NotificationLog.Status.FAILED, last_error=str(exc), response_code=exc.code, claimed_at=None
        )
        return {"ok": False, "message": str(exc), "delivery_id": entry.pk}
    NotificationLog.objects.filter(pk=entry.pk).update(
        status=NotificationLog.Status.SENT, sent_at=timezone.now(), response_code=code, claimed_at=None
    )
    if channel.kind == NotificationChannel.Kind.WEBHOOK:
        where = "the webhook"
    elif channel.kind == NotificationChannel.Kind.APPRISE:
        where = apprise_urls.public(channel.target)
    else:
        where = channel.target
    suffix = f" (HTTP {code})" if code else ""
    return {"ok": True, "message": f"Test message sent to {where}{suffix}", "delivery_id": entry.pk}
