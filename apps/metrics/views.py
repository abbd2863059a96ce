"""GET /metrics: the Prometheus text format, behind a bearer token or a superuser's session.

With BM_METRICS_TOKEN set, only `Authorization: Bearer <token>` opens it (401 otherwise).
Without it, only a signed-in superuser may read it: 401 for anonymous callers (a scraper
gets a status, not a redirect to a login page it would parse as metrics), 403 for other users.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from apps.metrics.collector import make_registry

REGISTRY = make_registry()
CHALLENGE = 'Bearer realm="BackupManager metrics"'


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def token_matches(header: str, token: str) -> bool:
    """True when an Authorization header carries this bearer token (constant-time, length too)."""
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    return hmac.compare_digest(_digest(given.strip()), _digest(token))


def _refuse(status: int, reason: str, challenge: str | None = None) -> HttpResponse:
    response = HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")
    if challenge:
        response["WWW-Authenticate"] = challenge
    return response


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.BM_METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        if not header:
            return _refuse(
                401, "A bearer token is required (Authorization: Bearer <BM_METRICS_TOKEN>).", CHALLENGE
            )
        if not token_matches(header, token):
            return _refuse(401, "The bearer token is wrong.", CHALLENGE + ', error="invalid_token"')
    elif not request.user.is_authenticated:
        return _refuse(
            401,
            "Sign in as a superuser, or set BM_METRICS_TOKEN and send it as a bearer token.",
            CHALLENGE,
        )
    elif not request.user.is_superuser:
        return _refuse(403, "Only a superuser may read the metrics while BM_METRICS_TOKEN is not set.")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
