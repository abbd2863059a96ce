"""Every API route answers with or without its trailing slash (a 301 would make clients drop a POST's body)."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

pytestmark = pytest.mark.django_db

_GROUP = re.compile(r"\(\?P<\w+>[^)]*\)")
_CONVERTER = re.compile(r"<(?:\w+:)?\w+>")


def _piece(pattern) -> str:
    """A concrete path for one URL pattern, with every parameter set to 1."""
    text = str(pattern.pattern)
    if hasattr(pattern.pattern, "_route"):  # path(): "groups/<int:group_id>/channels/"
        return _CONVERTER.sub("1", text)
    text = text.removeprefix("^").removesuffix("$").replace("/?", "/")
    return _GROUP.sub("1", text).replace("\\", "")


def api_paths() -> list[str]:
    """Every route under /api/, without its trailing slash."""
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + _piece(pattern))
            elif isinstance(pattern, URLPattern):
                found.append((prefix + _piece(pattern)).rstrip("/"))

    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/")
    walk(api.url_patterns, "/api/")
    return sorted(set(found))


def test_the_walk_finds_the_routes_it_must():
    paths = api_paths()
    for expected in (
        "/api/groups",
        "/api/groups/1",
        "/api/groups/1/members",
        "/api/groups/1/channels",
        "/api/databases",
        "/api/databases/1/details",
        "/api/databases/1/destinations",
        "/api/databases/1/destinations/1",
        "/api/schedules",
        "/api/schedules/preview",
        "/api/backups",
        "/api/auth/register",
    ):
        assert expected in paths


def test_every_api_route_resolves_without_its_trailing_slash(admin_client):
    redirected = []
    for path in api_paths():
        resolve(path)  # no Resolver404: CommonMiddleware has no reason to append a slash
        response = admin_client.get(path)
        if response.status_code in (301, 302, 308):
            redirected.append(path)
    assert redirected == []


def test_a_post_without_the_slash_creates(api_client, user):
    response = api_client.post("/api/groups", {"name": "ops"}, format="json")
    assert response.status_code == 201, response.content
    group_id = response.json()["id"]
    response = api_client.post(
        f"/api/groups/{group_id}/channels",
        {"kind": "email", "target": "a@example.com", "events": ["failed"]},
        format="json",
    )
    assert response.status_code == 201, response.content
