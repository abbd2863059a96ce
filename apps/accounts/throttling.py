"""Throttle failed logins per client address and per username."""

from __future__ import annotations

import hashlib

from django.core.cache import cache

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60


def _keys(ip: str, username: str) -> list[str]:
    name = hashlib.sha256(username.lower().encode()).hexdigest()[:32]
    return [f"login-fail:ip:{ip}", f"login-fail:user:{name}"]


def is_locked(ip: str, username: str) -> bool:
    """Return True once either the address or the username has too many recent failures."""
    return any((cache.get(key) or 0) >= MAX_FAILURES for key in _keys(ip, username))


def record_failure(ip: str, username: str) -> None:
    for key in _keys(ip, username):
        if not cache.add(key, 1, WINDOW_SECONDS):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, WINDOW_SECONDS)


def reset(ip: str, username: str) -> None:
    # Only the username's counter: a success must not clear an attacker's address.
    cache.delete(_keys(ip, username)[1])


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"
