"""Failed sign-ins are counted by django-axes in the database, per (username, client address).

Every door that checks a password (the sign-in page, the API's login, the Django
admin) calls django.contrib.auth.authenticate(request=...), whose first backend
is axes': after AXES_FAILURE_LIMIT wrong passwords for one username from one
address, that pair is refused for AXES_COOLOFF_TIME, in every process. Another
address can still sign in, so a stranger cannot lock a user out.
"""

from __future__ import annotations

import ipaddress
import math

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _trusted(address: str, proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if ip in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For when REMOTE_ADDR is a trusted proxy.

    Behind trusted proxies, the right-most address of X-Forwarded-For that is not itself a
    trusted proxy is the client (the left part is whatever the client chose to send).
    """
    meta = getattr(request, "META", {})
    # None when there is no address (e.g. a request made in-process): axes stores NULL.
    remote = _valid_ip(meta.get("REMOTE_ADDR", "") or "")
    if remote is None:
        return None
    proxies = list(getattr(settings, "BM_TRUSTED_PROXIES", []) or [])
    if not proxies or not _trusted(remote, proxies):
        return remote
    hops = [h for h in (meta.get("HTTP_X_FORWARDED_FOR", "") or "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _valid_ip(hop)
        if address is None:
            return remote
        if not _trusted(address, proxies):
            return address
    return remote


def lock_minutes() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def locked_message() -> str:
    return (
        f"Too many failed sign-ins for this account from your address; try again in {lock_minutes()} minutes."
    )


class LoginLocked(Exception):
    """This username is locked for this address after too many failed sign-ins."""

    @property
    def message(self) -> str:
        return locked_message()


def authenticate_checked(request: HttpRequest, **credentials):
    """Return the user or None for wrong credentials; raise LoginLocked while the pair is locked.

    `request` is Django's HttpRequest (for DRF, pass request._request): axes flags it.
    """
    user = authenticate(request, **credentials)
    if user is None and getattr(request, "axes_locked_out", False):
        raise LoginLocked
    return user


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """What AxesMiddleware answers on a locked sign-in: JSON under /api/, else a page (429)."""
    message = locked_message()
    match = getattr(request, "resolver_match", None)
    if original_response is not None and match is not None and match.view_name == "accounts:login":
        # The sign-in page already shows the message on its form.
        original_response.status_code = 429
        return original_response
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=429)
    return render(request, "accounts/locked.html", {"message": message}, status=429)
