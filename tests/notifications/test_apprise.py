"""Apprise channels: one URL Apprise accepts, delivered through the queue, guarded like webhooks."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import Membership
from apps.notifications import delivery
from apps.notifications.models import BAD_APPRISE, NotificationChannel, NotificationLog
from apps.notifications.notify import build_payload


def url(group, cid=None, suffix=""):
    base = f"/api/groups/{group.pk}/channels/"
    return base + (f"{cid}/" if cid else "") + suffix


def port_of(receiver) -> str:
    return receiver.url.split(":")[2].split("/")[0]


def channel(group, target, events=("failed",)):
    return NotificationChannel.objects.create(group=group, kind="apprise", target=target, events=list(events))


def test_an_owner_creates_an_apprise_channel_through_the_api(api_client, group):
    body = {"kind": "apprise", "target": "ntfy://ntfy.example.com/backups", "events": ["failed"]}
    response = api_client.post(url(group), body, format="json")
    assert response.status_code == 201, response.json()
    assert NotificationChannel.objects.get().target == "ntfy://ntfy.example.com/backups"


def test_a_url_apprise_does_not_accept_is_a_clear_400(api_client, group):
    for target in ("nonsense://host/x", "https//missing-colon", "json://a/x json://b/y", ""):
        response = api_client.post(
            url(group), {"kind": "apprise", "target": target, "events": ["failed"]}, format="json"
        )
        assert response.status_code == 400, target
        assert BAD_APPRISE in response.json()["target"] or target == ""
    assert not NotificationChannel.objects.exists()


def test_the_form_refuses_a_url_apprise_does_not_accept(group):
    from apps.notifications.forms import ChannelForm

    form = ChannelForm(data={"kind": "apprise", "target": "nonsense://host/x", "events": ["failed"]})
    assert not form.is_valid()
    assert form.errors["target"] == [BAD_APPRISE]


def test_members_below_owner_see_only_the_scheme_and_a_host_the_user_chose(
    api_client, other_client, other_user, group
):
    Membership.objects.create(user=other_user, group=group, role=Membership.Role.OPERATOR)
    gotify = channel(group, "gotify://gotify.example.com/AbCdEfToKeN")
    telegram = channel(group, "tgram://123456789:abcdefg_hijklmnop/12315544/")
    shown = {c["id"]: c["target"] for c in other_client.get(url(group)).json()}
    assert shown == {gotify.pk: "gotify://gotify.example.com/…", telegram.pk: "tgram://…"}
    owner_view = {c["id"]: c["target"] for c in api_client.get(url(group)).json()}
    assert owner_view[gotify.pk] == "gotify://gotify.example.com/AbCdEfToKeN"


def test_the_json_form_delivers_the_text_to_a_local_receiver(api_client, group, receiver):
    ch = channel(group, f"json://127.0.0.1:{port_of(receiver)}/hook")
    response = api_client.post(url(group, ch.pk, "test/"))
    assert response.json()["ok"] is True, response.json()
    assert response.json()["message"] == "Test message sent to json://127.0.0.1/…"
    assert len(receiver.requests) == 1
    sent = receiver.requests[0]["json"]
    assert sent["message"].startswith("[BackupManager] ")
    assert receiver.requests[0]["path"] == "/hook"


def test_a_gotify_url_pointed_at_loopback_delivers_through_the_queue(group, receiver):
    ch = channel(group, f"gotify://127.0.0.1:{port_of(receiver)}/AppToken123")
    entry = NotificationLog.objects.create(
        channel=ch, event="failed", payload=build_payload("test", group=group)
    )
    assert delivery.deliver_due() == 1
    entry.refresh_from_db()
    assert entry.status == NotificationLog.Status.SENT, entry.last_error
    assert len(receiver.requests) == 1
    assert receiver.requests[0]["path"].startswith("/message")
    assert receiver.requests[0]["json"]["message"].startswith("[BackupManager] ")


def test_loopback_is_refused_by_default_and_nothing_is_sent(api_client, group, receiver, settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = False
    for target in (f"json://127.0.0.1:{port_of(receiver)}/hook", f"gotify://localhost:{port_of(receiver)}/T"):
        ch = channel(group, target)
        response = api_client.post(url(group, ch.pk, "test/"))
        assert response.json()["ok"] is False
        assert response.json()["message"].endswith(
            "address is refused: it is on a loopback, private, link-local or reserved network"
        )
    assert receiver.requests == []


def test_the_metadata_address_is_refused_even_with_private_networks_allowed(api_client, group, settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    ch = channel(group, "json://169.254.169.254/latest/meta-data/")
    response = api_client.post(url(group, ch.pk, "test/"))
    assert response.json() == {
        "ok": False,
        "message": "the Apprise target json://169.254.169.254/… address is refused: it is a cloud metadata address",
        "delivery_id": NotificationLog.objects.get().pk,
    }


def test_a_receiver_that_answers_an_error_is_a_failed_attempt_retried_with_back_off(group, receiver):
    receiver.status = 500
    ch = channel(group, f"json://127.0.0.1:{port_of(receiver)}/hook")
    entry = NotificationLog.objects.create(
        channel=ch, event="failed", payload=build_payload("test", group=group)
    )
    before = timezone.now()
    assert delivery.deliver_due() == 1
    entry.refresh_from_db()
    assert entry.status == NotificationLog.Status.PENDING and entry.attempts == 1
    assert entry.last_error == "Apprise could not deliver the message to json://127.0.0.1/…"
    assert entry.next_attempt_at >= before + timedelta(seconds=delivery.BACKOFF_SECONDS[0])
    assert len(receiver.requests) == 1
