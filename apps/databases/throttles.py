"""How often one user may test connections (the API and the pages share the budget).

A connection test opens a socket from this server to any host and port its owner names, so
it is limited per user (BM_CONNECTION_TEST_RATE, e.g. "20/min"). The count lives in the
default cache: per process with the local-memory cache, shared when CACHES is a shared cache.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

OWNERS_ONLY = (
    "Connection tests are for the group's owners: they open a connection from this server to "
    "the host and port given."
)


class ConnectionTestThrottle(UserRateThrottle):
    scope = "connection_test"

    def get_rate(self) -> str:
        # settings.py reads and checks BM_CONNECTION_TEST_RATE; the default is the same.
        return getattr(settings, "BM_CONNECTION_TEST_RATE", "20/min")


def too_many_tests(request) -> int | None:
    """Count one test for the request's user; None when allowed, else the seconds to wait."""
    throttle = ConnectionTestThrottle()
    if throttle.allow_request(request, APIView()):  # the pages are not DRF views; the key is the user
        return None
    return max(1, int(throttle.wait() or 1))
