"""Throttle failed logins per client address and per username (API and sign-in page alike).

Not DRF's throttle classes: those count every request to one DRF view, by client;
this counts failures only, by address and by username, and serves the sign-in page
(a Django form) as well as the API's login.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth import authenticate
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


class LoginLocked(Exception):
    """Too many recent failures for this address or username."""

    message = "Too many failed sign-in attempts. Try again in 15 minutes."


def authenticate_throttled(request, username: str, password: str):
    """Return the user, or None for wrong credentials; raise LoginLocked while throttled."""
    ip = client_ip(request)
    if is_locked(ip, username):
        raise LoginLocked
    user = authenticate(request, username=username, password=password)
    if user is None:
        record_failure(ip, username)
    else:
        reset(ip, username)
    return user
