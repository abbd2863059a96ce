"""No dead throttle configuration: a rate is only configured for a scope some API view uses."""

from django.conf import settings
from django.urls import URLPattern, get_resolver


def test_every_configured_throttle_rate_is_used_by_some_api_view():
    """A rate in settings that no view's throttle_scope names throttles nothing: dead configuration."""
    rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES") or {}
    scopes = set()

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None)
                if view is not None and getattr(view, "throttle_scope", None):
                    scopes.add(view.throttle_scope)
            else:
                walk(pattern.url_patterns)

    walk(get_resolver().url_patterns)
    assert set(rates) <= scopes
