"""/api/groups/{id}/channels/: members read, owners write; secrets never come back."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.core import mail
from django.db import connection

from apps.accounts.models import Membership
from apps.notifications.models import NotificationChannel, NotificationLog


def url(group, cid=None, suffix=""):
    base = f"/api/groups/{group.pk}/channels/"
    return base + (f"{cid}/" if cid else "") + suffix


WEBHOOK = {"kind": "webhook", "target": "https://hooks.example.com/x", "events": ["failed", "recovered"]}


def test_an_owner_creates_a_webhook_channel_and_its_secret_is_write_only(api_client, group):
    response = api_client.post(url(group), {**WEBHOOK, "secret": "s3cret-key"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body == {
        "id": body["id"],
        "group_id": group.pk,
        "kind": "webhook",
        "target": "https://hooks.example.com/x",
        "events": ["failed", "recovered"],
        "enabled": True,
        "has_secret": True,
        "created_at": body["created_at"],
    }
    channel = NotificationChannel.objects.get()
    assert channel.secret == "s3cret-key"
    with connection.cursor() as cur:
        cur.execute("SELECT secret FROM notifications_notificationchannel WHERE id = %s", [channel.pk])
        raw = cur.fetchone()[0]
    assert raw.startswith("fernet:") and "s3cret-key" not in raw
    assert "secret" not in api_client.get(url(group, channel.pk)).json()


def test_the_list_shows_the_groups_channels(api_client, group, make_group, user):
    NotificationChannel.objects.create(group=group, kind="email", target="ops@example.com", events=["failed"])
    NotificationChannel.objects.create(
        group=make_group(owner=user), kind="email", target="other@example.com", events=["failed"]
    )
    response = api_client.get(url(group))
    assert response.status_code == 200
    assert [c["target"] for c in response.json()] == ["ops@example.com"]


def test_put_patch_and_delete(api_client, group):
    channel = NotificationChannel.objects.create(
        group=group, kind="email", target="a@example.com", events=["failed"]
    )
    response = api_client.put(
        url(group, channel.pk),
        {"kind": "email", "target": "b@example.com", "events": ["stale", "failed"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["events"] == ["failed", "stale"]
    response = api_client.patch(url(group, channel.pk), {"enabled": False}, format="json")
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert api_client.delete(url(group, channel.pk)).status_code == 204
    assert not NotificationChannel.objects.exists()


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({**WEBHOOK, "events": ["exploded"]}, "events", '"exploded" is not a valid choice.'),
        ({**WEBHOOK, "events": []}, "events", "This list may not be empty."),
        (
            {**WEBHOOK, "target": "ftp://x.example.com"},
            "target",
            "Enter an http:// or https:// URL for the webhook.",
        ),
        ({**WEBHOOK, "kind": "email", "target": "not-an-address"}, "target", "Enter a valid email address."),
        ({**WEBHOOK, "kind": "sms"}, "kind", '"sms" is not a valid choice.'),
        ({**WEBHOOK, "colour": "red"}, "colour", "Unknown field."),
    ],
)
def test_bad_input_is_rejected_with_the_reason_and_nothing_is_written(
    api_client, group, payload, field, message
):
    response = api_client.post(url(group), payload, format="json")
    assert response.status_code == 400
    errors = response.json()[field]
    flat = errors if isinstance(errors, list) else [m for msgs in errors.values() for m in msgs]
    assert message in flat
    assert not NotificationChannel.objects.exists()


def test_members_read_but_only_owners_write(api_client, other_client, other_user, group):
    channel = NotificationChannel.objects.create(
        group=group, kind="email", target="a@example.com", events=["failed"]
    )
    Membership.objects.create(user=other_user, group=group, role=Membership.Role.OPERATOR)
    assert other_client.get(url(group)).status_code == 200
    assert other_client.get(url(group, channel.pk)).status_code == 200
    for response in (
        other_client.post(url(group), WEBHOOK, format="json"),
        other_client.patch(url(group, channel.pk), {"enabled": False}, format="json"),
        other_client.delete(url(group, channel.pk)),
        other_client.post(url(group, channel.pk, "test/")),
    ):
        assert response.status_code == 403
        assert (
            response.json()["detail"] == "Only the group's owners can change or test notification channels."
        )
    channel.refresh_from_db()
    assert channel.enabled is True and NotificationChannel.objects.count() == 1


def test_outsiders_get_404(other_client, group):
    channel = NotificationChannel.objects.create(
        group=group, kind="email", target="a@example.com", events=["failed"]
    )
    assert other_client.get(url(group)).status_code == 404
    assert other_client.get(url(group, channel.pk)).status_code == 404
    assert other_client.post(url(group), WEBHOOK, format="json").status_code == 404


def test_anonymous_requests_are_refused(client, group):
    assert client.get(url(group)).status_code == 401


def test_testing_a_webhook_channel_posts_a_signed_message(api_client, group, receiver):
    channel = NotificationChannel.objects.create(
        group=group, kind="webhook", target=receiver.url, events=["failed"], secret="k3y"
    )
    response = api_client.post(url(group, channel.pk, "test/"))
    assert response.status_code == 200
    assert response.json()["ok"] is True and "HTTP 200" in response.json()["message"]
    [request] = receiver.requests
    assert request["json"]["event"] == "test" and request["json"]["group"] == "team"
    assert request["json"]["text"].startswith("[BackupManager] Test message")
    expected = "sha256=" + hmac.new(b"k3y", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["x-backupmanager-signature"] == expected
    assert NotificationLog.objects.get().status == "sent"


def test_testing_a_channel_that_fails_says_why(api_client, group, receiver):
    receiver.status = 500
    channel = NotificationChannel.objects.create(
        group=group, kind="webhook", target=receiver.url, events=["failed"]
    )
    response = api_client.post(url(group, channel.pk, "test/"))
    assert response.status_code == 200
    assert response.json()["ok"] is False and response.json()["message"] == "the webhook answered HTTP 500"
    entry = NotificationLog.objects.get()
    assert (entry.status, entry.response_code) == ("failed", 500)


def test_testing_an_email_channel_sends_a_mail(api_client, group):
    channel = NotificationChannel.objects.create(
        group=group, kind="email", target="ops@example.com", events=["failed"]
    )
    response = api_client.post(url(group, channel.pk, "test/"))
    assert response.status_code == 200 and response.json()["ok"] is True
    [message] = mail.outbox
    assert message.to == ["ops@example.com"] and "Test message" in message.subject


def test_the_deliveries_of_a_channel_are_listed(api_client, group, receiver):
    channel = NotificationChannel.objects.create(
        group=group, kind="webhook", target=receiver.url, events=["failed"]
    )
    api_client.post(url(group, channel.pk, "test/"))
    response = api_client.get(url(group, channel.pk, "deliveries/"))
    assert response.status_code == 200
    assert [(d["event"], d["status"]) for d in response.json()] == [("test", "sent")]
