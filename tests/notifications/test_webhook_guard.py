"""Webhooks and their test button go only where they should (issue 10: the port scanner)."""

from __future__ import annotations

import pytest

from apps.notifications import delivery
from apps.notifications.models import NotificationChannel, NotificationLog
from tests.notifications.conftest import Receiver

REFUSED = "the webhook address is refused: it is on a loopback, private, link-local or reserved network"


def url(group, channel):
    return f"/api/groups/{group.pk}/channels/{channel.pk}/test/"


def hook(group, target):
    return NotificationChannel.objects.create(group=group, kind="webhook", target=target, events=["failed"])


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "localhost"]
)
def test_the_test_button_refuses_loopback_in_any_spelling_by_default(
    api_client, group, receiver, settings, host
):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = False
    port = receiver.url.split(":")[2].split("/")[0]
    channel = hook(group, f"http://{host}:{port}/hook")
    response = api_client.post(url(group, channel))
    assert response.status_code == 200
    assert response.json() == {
        "ok": False,
        "message": REFUSED,
        "delivery_id": NotificationLog.objects.get().pk,
    }
    assert receiver.requests == []


def test_with_private_networks_allowed_the_test_button_reaches_a_receiver_on_loopback(
    api_client, group, receiver
):
    channel = hook(group, receiver.url)
    response = api_client.post(url(group, channel))
    assert response.json()["ok"] is True and len(receiver.requests) == 1


def test_the_metadata_address_is_refused_even_with_private_networks_allowed(api_client, group, settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    channel = hook(group, "http://169.254.169.254/latest/meta-data/iam/")
    response = api_client.post(url(group, channel))
    assert response.json()["message"] == "the webhook address is refused: it is a cloud metadata address"


def test_a_redirect_into_the_internal_network_is_not_followed(api_client, group, receiver, settings):
    inside = Receiver()
    try:
        receiver.status = 307
        receiver.location = inside.url
        channel = hook(group, receiver.url)
        response = api_client.post(url(group, channel))
        assert response.json()["ok"] is False
        assert (
            response.json()["message"] == "the webhook answered HTTP 307 (a redirect, which is not followed)"
        )
        assert len(receiver.requests) == 1 and inside.requests == []
    finally:
        inside.close()


def test_a_closed_port_reads_as_unreachable_without_detail(api_client, group, receiver, settings):
    receiver.close()  # nothing listens there any more
    channel = hook(group, receiver.url)
    response = api_client.post(url(group, channel))
    assert response.json()["message"] == "the webhook could not be reached"


def test_queued_deliveries_to_a_refused_address_fail_and_are_retried_like_any_failure(
    group, receiver, settings
):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = False
    channel = hook(group, receiver.url)
    entry = NotificationLog.objects.create(channel=channel, event="failed", payload={"event": "failed"})
    assert delivery.deliver_due() == 1
    entry.refresh_from_db()
    assert (entry.status, entry.last_error) == ("pending", REFUSED)
    assert receiver.requests == []
