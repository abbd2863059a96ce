"""Two-factor sign-in on pages: sessions of accounts with a device must be verified, and when
the superuser requires it (BM_REQUIRE_2FA) accounts without one are sent to its set-up page."""

from __future__ import annotations

from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from apps.accounts import twofactor

# Reachable while the second factor is still owed or being set up.
_OPEN_PREFIXES = (
    "/accounts/login",
    "/accounts/logout",
    "/accounts/two-factor",
    "/static/",
    "/health",
    "/metrics",
)


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith(_OPEN_PREFIXES):
            if twofactor.has_device(user) and not user.is_verified():
                # A session from before two-factor sign-in was turned on (elsewhere): sign in again.
                logout(request)
                return redirect(f"{reverse('accounts:login')}?{urlencode({'next': request.get_full_path()})}")
            if (
                twofactor.required()
                and not twofactor.has_device(user)
                and not request.path.startswith("/api/")
            ):
                return redirect("accounts:two-factor")
        return self.get_response(request)
