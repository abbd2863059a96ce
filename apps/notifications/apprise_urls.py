"""Apprise URLs (Slack, Discord, Telegram, ntfy, Gotify, Mattermost, json://, ...): parse, show, guard.

One channel holds exactly one Apprise URL. Apprise knows which of its
services talk to a host the user chose (json://, ntfy://host, gotify://,
mmost://, mailto://...: their URL template has a ``host`` token) and which
talk to a fixed public service (tgram://, discord://, slack://...: the part
after ``://`` is a token, not a host). Only the first kind is checked by the
outbound guard; the second always goes to its service's public address.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import apprise


def instantiate(url: str):
    """Return Apprise's plugin object for one URL, or None when Apprise does not accept it."""
    url = (url or "").strip()
    if not url or any(c.isspace() for c in url) or "," in url.split("?", 1)[0]:
        return None  # Apprise would split several URLs; a channel holds one
    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:
        return None
    return plugin or None


def valid(url: str) -> bool:
    """True when the URL is exactly one URL that Apprise can send to."""
    return instantiate(url) is not None and apprise.Apprise().add(url.strip()) is True


def user_host(plugin) -> tuple[str, int | None] | None:
    """(host, port) the plugin connects to when the user chose it; None for fixed public services."""
    if "host" not in (getattr(plugin, "template_tokens", None) or {}):
        return None
    if getattr(plugin, "mode", None) == "cloud":  # ntfy://topic posts to ntfy.sh
        return None
    host = getattr(plugin, "host", None)
    if not host:
        return None
    return str(host), getattr(plugin, "port", None)


def default_port(plugin) -> int:
    return 443 if getattr(plugin, "secure", False) else 80


def public(url: str) -> str:
    """The URL as members below owner see it: scheme and a host the user chose, never a token."""
    scheme = urlsplit(url).scheme or "apprise"
    plugin = instantiate(url)
    where = user_host(plugin) if plugin is not None else None
    if where is None:
        return f"{scheme}://…"
    return f"{scheme}://{where[0]}/…"
