"""The signing secret belongs to webhooks: its field follows the kind, and other kinds refuse one."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.notifications.models import NotificationChannel
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def secret_section(html: str) -> str:
    match = re.search(r"<div data-engines=\"webhook\" data-secret-section[^>]*>", html)
    assert match, "no secret section"
    return match.group(0)


def test_the_secret_field_is_hidden_for_email_and_shown_for_a_webhook(world):
    client = world.client_for(world.owner)
    html = client.get(reverse("groups:detail", args=[world.group.pk])).content.decode()
    assert " hidden" in secret_section(html)  # a new channel starts as email
    assert 'data-engine-select=""' in html  # the kind selector drives it in the browser
    hook = NotificationChannel.objects.create(
        group=world.group, kind="webhook", target="https://hooks.example.com/x", events=["failed"]
    )
    edit = client.get(reverse("notifications:update", args=[hook.pk])).content.decode()
    assert " hidden" not in secret_section(edit)


def test_an_email_channel_with_a_secret_is_refused(world):
    response = world.client_for(world.owner).post(
        reverse("notifications:create", args=[world.group.pk]),
        {
            "kind": "email",
            "target": "ops@example.com",
            "events": ["failed"],
            "secret": "s3cret",
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert "Only webhooks sign their requests" in response.content.decode()
    assert not NotificationChannel.objects.exists()


def test_an_email_channel_without_a_secret_is_added(world):
    response = world.client_for(world.owner).post(
        reverse("notifications:create", args=[world.group.pk]),
        {"kind": "email", "target": "ops@example.com", "events": ["failed"], "enabled": "on"},
    )
    assert response.status_code == 302
    assert NotificationChannel.objects.get().secret == ""


def test_the_api_refuses_a_secret_for_an_email_channel_and_keeps_it_for_a_webhook(api_client, group):
    url = f"/api/groups/{group.pk}/channels/"
    email = {"kind": "email", "target": "ops@example.com", "events": ["failed"], "secret": "s3cret"}
    response = api_client.post(url, email, format="json")
    assert response.status_code == 400
    assert response.json()["secret"] == ["Only webhooks sign their requests: leave the secret empty."]
    assert not NotificationChannel.objects.exists()
    hook = {
        "kind": "webhook",
        "target": "https://hooks.example.com/x",
        "events": ["failed"],
        "secret": "s3cret",
    }
    assert api_client.post(url, hook, format="json").status_code == 201
    assert NotificationChannel.objects.get().secret == "s3cret"
