"""Content-Security-Policy (issue 10): every page carries it, and no page needs 'unsafe-inline'
(no <script> without src, no style="" attribute) — walked over every HTML route, and checked in
the templates and scripts themselves for the branches a walk does not render."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from apps.keys.models import GroupKey
from apps.notifications.models import NotificationChannel
from tests.ui.world import world_fixture  # noqa: F401

EXPECTED = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "form-action 'self'",
}
# A <script> without src that a browser would run. Data blocks (`json_script`, type="application/json")
# are never executed, so the policy does not concern them.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\btype=[\"']application/json[\"'])[^>]*>", re.I)
STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=\s*["']""", re.I)
ROOT = Path(settings.BASE_DIR)


def page_routes():
    """(route, namespace) of every HTML route: the whole URLconf but the API, the admin and /metrics."""

    def walk(patterns, prefix="", namespace=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(
                    pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
                )
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), namespace

    for route, namespace in walk(get_resolver().url_patterns):
        if not route.startswith(("api/", "admin/", "metrics", "health", "^")):
            yield route, namespace


def fill(route: str, namespace: str, ids: dict) -> str:
    def value(match: re.Match) -> str:
        name = match.group(2)
        if name == "pk":
            return str(ids[namespace])
        return str(ids.get(name, 1))

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, route)


def policy(response) -> set[str]:
    return {part.strip() for part in response["Content-Security-Policy"].split(";")}


def assert_no_inline(url: str, html: str) -> None:
    assert not INLINE_SCRIPT.search(html), f"{url}: inline <script>: {INLINE_SCRIPT.search(html).group(0)}"
    found = STYLE_ATTRIBUTE.search(html)
    assert not found, f"{url}: style attribute near {html[max(found.start() - 80, 0) : found.end() + 40]!r}"


def test_every_page_sends_the_policy_and_needs_no_inline_script_or_style(world):
    channel = NotificationChannel.objects.create(
        group=world.group, kind="webhook", target="https://h.example/x"
    )
    key = GroupKey.objects.create(group=world.group, name="k", recipient="age1example")
    ids = {
        "groups": world.group.pk,
        "accounts": world.group.pk,
        "databases": world.database.pk,
        "destinations": world.destination.pk,
        "schedules": world.schedule.pk,
        "notifications": channel.pk,
        "keys": key.pk,
        "backups": world.backup.pk,
        "database_id": world.database.pk,
        "group_id": world.group.pk,
        "membership_id": world.group.memberships.get(user=world.viewer).pk,
        "token": "not-a-token",
    }
    owner = world.client_for(world.owner)
    anonymous = world.client_for(None)
    seen = 0
    for route, namespace in page_routes():
        url = fill(route, namespace, ids)
        for client in (owner, anonymous):
            response = client.get(url)
            assert response.status_code < 500, url
            assert policy(response) == EXPECTED, url
            if response.get("Content-Type", "").startswith("text/html") and not response.streaming:
                assert_no_inline(url, response.content.decode())
                seen += 1
    assert seen > 40
    # A page only reached by a POST: the new key's secret.
    response = owner.post(
        f"/keys/new/{world.group.pk}/", {"name": "fresh", "keep_identity": "on"}, follow=True
    )
    assert policy(response) == EXPECTED
    assert_no_inline("key created", response.content.decode())
    # Error pages carry it too.
    assert policy(owner.get("/no-such-page/")) == EXPECTED


def test_no_template_or_script_holds_inline_script_or_style_attributes():
    for path in sorted((ROOT / "templates").rglob("*.html")):
        assert_no_inline(str(path.relative_to(ROOT)), path.read_text())
    for path in sorted((ROOT / "static").rglob("*.js")):
        assert not STYLE_ATTRIBUTE.search(path.read_text()), path


def test_the_api_reference_loads_its_script_from_a_file():
    from django.test import Client

    html = Client().get("/api/docs/").content.decode()
    assert not INLINE_SCRIPT.search(html)
