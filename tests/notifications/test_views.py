"""Notification channels in the pages: members see them on the group page, owners add, edit,
test and delete them; secrets are write-only."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from apps.notifications.models import NotificationChannel, NotificationLog
from tests.ui.world import assert_access, world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

SECRET = "whsec-Very-Secret-0123456789"
HOOK = "https://hooks.example.com/services/T000/B000/tokenXYZ"


def group_url(world) -> str:
    return reverse("groups:detail", args=[world.group.pk])


def create_url(world) -> str:
    return reverse("notifications:create", args=[world.group.pk])


@pytest.fixture
def webhook(world):
    return NotificationChannel.objects.create(
        group=world.group, kind="webhook", target=HOOK, events=["failed", "stale"], secret=SECRET
    )


def test_members_see_the_channels_on_the_group_page_and_only_owners_get_the_actions(world, webhook):
    NotificationChannel.objects.create(
        group=world.group, kind="email", target="ops@example.com", events=["failed"], enabled=False
    )
    url = group_url(world)
    assert_access(world, url)
    viewer_html = world.client_for(world.viewer).get(url).content.decode()
    assert 'id="notifications"' in viewer_html
    assert "ops@example.com" in viewer_html and "disabled" in viewer_html
    # A webhook URL often carries its token: members below owner see only the host.
    assert "https://hooks.example.com/…" in viewer_html and "tokenXYZ" not in viewer_html
    assert "signed (HMAC-SHA256)" in viewer_html
    for action in ("Add channel", reverse("notifications:test", args=[webhook.pk]), "Edit the channel"):
        assert action not in viewer_html
    owner_html = world.client_for(world.owner).get(url).content.decode()
    assert HOOK in owner_html and "Add channel" in owner_html
    assert reverse("notifications:test", args=[webhook.pk]) in owner_html
    assert SECRET not in owner_html and SECRET not in viewer_html


def test_the_channel_pages_answer_owners_only_and_hide_from_outsiders(world, webhook):
    for url in (
        create_url(world),
        reverse("notifications:update", args=[webhook.pk]),
        reverse("notifications:delete", args=[webhook.pk]),
    ):
        assert_access(world, url, world.owner, forbidden=[world.operator, world.viewer])


def test_an_owner_adds_a_webhook_channel_from_the_group_page(world):
    response = world.client_for(world.owner).post(
        create_url(world),
        {
            "kind": "webhook",
            "target": f"  {HOOK} ",
            "events": ["stale", "failed"],
            "enabled": "on",
            "secret": SECRET,
        },
        follow=True,
    )
    channel = NotificationChannel.objects.get()
    assert (channel.group, channel.kind, channel.target) == (world.group, "webhook", HOOK)
    assert channel.events == ["failed", "stale"] and channel.enabled and channel.secret == SECRET
    assert response.redirect_chain[-1][0] == group_url(world) + "#notifications"
    html = response.content.decode()
    assert f"Notifications added: webhook channel to {HOOK} for failed, stale." in html
    assert SECRET not in html


def test_non_owners_cannot_add_change_test_or_delete_channels(world, webhook):
    posts = [
        (create_url(world), {"kind": "email", "target": "x@example.com", "events": ["failed"]}),
        (
            reverse("notifications:update", args=[webhook.pk]),
            {"kind": "email", "target": "x@example.com", "events": ["failed"]},
        ),
        (reverse("notifications:test", args=[webhook.pk]), {}),
        (reverse("notifications:delete", args=[webhook.pk]), {}),
    ]
    for url, data in posts:
        assert world.client_for(world.operator).post(url, data).status_code == 403, url
        assert world.client_for(world.viewer).post(url, data).status_code == 403, url
        assert world.client_for(world.outsider).post(url, data).status_code == 404, url
        assert world.client_for(None).post(url, data).status_code == 302, url
    webhook.refresh_from_db()
    assert (webhook.kind, webhook.target) == ("webhook", HOOK)
    assert NotificationChannel.objects.count() == 1
    assert not NotificationLog.objects.exists()


@pytest.mark.parametrize(
    ("kind", "target", "message"),
    [
        ("webhook", "ftp://hooks.example.com/x", "Enter an http:// or https:// URL for the webhook."),
        ("webhook", "hooks.example.com/x", "Enter an http:// or https:// URL for the webhook."),
        ("email", "ops@", "Enter a valid email address."),
        ("email", "https://hooks.example.com/x", "Enter a valid email address."),
    ],
)
def test_a_target_that_does_not_suit_the_kind_is_refused_on_the_field(world, kind, target, message):
    response = world.client_for(world.owner).post(
        create_url(world), {"kind": kind, "target": target, "events": ["failed"], "secret": SECRET}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert '<div class="field has-error" id="field-target">' in html
    assert f"<li>{message}</li>" in html
    assert SECRET not in html  # the typed secret is not echoed back
    assert not NotificationChannel.objects.exists()


def test_a_channel_needs_at_least_one_event(world):
    response = world.client_for(world.owner).post(
        create_url(world), {"kind": "email", "target": "ops@example.com"}
    )
    assert response.status_code == 200
    assert "<li>Choose at least one event to send.</li>" in response.content.decode()
    assert not NotificationChannel.objects.exists()


def test_editing_keeps_the_secret_unless_a_new_one_is_typed_or_it_is_removed(world, webhook):
    url = reverse("notifications:update", args=[webhook.pk])
    client = world.client_for(world.owner)
    page = client.get(url).content.decode()
    assert SECRET not in page and "A secret is stored; leave empty to keep it." in page
    assert "Remove the stored secret" in page
    data = {"kind": "webhook", "target": HOOK, "events": ["partial"]}
    response = client.post(url, data, follow=True)
    assert f"Saved the webhook channel to {HOOK} (disabled)." in response.content.decode()
    webhook.refresh_from_db()
    assert webhook.secret == SECRET and webhook.events == ["partial"] and not webhook.enabled
    client.post(url, {**data, "secret": "new-secret", "enabled": "on"})
    webhook.refresh_from_db()
    assert webhook.secret == "new-secret" and webhook.enabled
    client.post(url, {**data, "secret": "ignored", "clear_secret": "on"})
    webhook.refresh_from_db()
    assert webhook.secret == ""
    assert "Remove the stored secret" not in client.get(url).content.decode()


def test_an_owner_deletes_a_channel_after_a_confirmation(world, webhook):
    url = reverse("notifications:delete", args=[webhook.pk])
    client = world.client_for(world.owner)
    assert "will no longer hear about team" in client.get(url).content.decode()
    response = client.post(url, follow=True)
    assert not NotificationChannel.objects.exists()
    assert f"Deleted the webhook channel to {HOOK}. Its delivery log stays." in response.content.decode()


def test_testing_a_webhook_posts_to_it_and_says_so(world, receiver):
    channel = NotificationChannel.objects.create(
        group=world.group, kind="webhook", target=receiver.url, events=["failed"], secret=SECRET
    )
    response = world.client_for(world.owner).post(
        reverse("notifications:test", args=[channel.pk]), follow=True
    )
    assert "Test message sent to the webhook (HTTP 200)." in response.content.decode()
    assert receiver.requests[0]["json"]["event"] == "test"
    assert receiver.requests[0]["headers"]["x-backupmanager-signature"].startswith("sha256=")
    html = world.client_for(world.owner).get(group_url(world)).content.decode()
    assert '<span class="badge ok">sent</span>' in html and "nothing sent yet" not in html


def test_a_failing_test_message_is_reported_with_the_reason(world, receiver):
    receiver.status = 500
    channel = NotificationChannel.objects.create(
        group=world.group, kind="webhook", target=receiver.url, events=["failed"]
    )
    response = world.client_for(world.owner).post(
        reverse("notifications:test", args=[channel.pk]), follow=True
    )
    html = response.content.decode()
    assert f"The test message to {receiver.url} failed: the webhook answered HTTP 500." in html
    assert NotificationLog.objects.get().status == "failed"


def test_testing_an_email_channel_sends_a_mail(world):
    channel = NotificationChannel.objects.create(
        group=world.group, kind="email", target="ops@example.com", events=["failed"]
    )
    response = world.client_for(world.owner).post(
        reverse("notifications:test", args=[channel.pk]), follow=True
    )
    assert "Test message sent to ops@example.com." in response.content.decode()
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
