"""URL routes: each app's HTML views and its api/ package."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from apps.schedules.health import health

api_patterns = [
    path("auth/", include("apps.accounts.api.urls")),
    # Each app's OptionalSlashRouter carries its full prefix, so every route answers with
    # or without its trailing slash (a prefix in path() here would 301 the bare form).
    path("", include("apps.notifications.api.urls")),
    path("", include("apps.keys.api.urls")),
    path("", include("apps.groups.api.urls")),
    path("", include("apps.accounts.api.invite_urls")),
    path("", include("apps.databases.api.urls")),
    path("", include("apps.destinations.api.urls")),
    path("", include("apps.schedules.api.urls")),
    path("", include("apps.backups.api.urls")),
    path("", include("apps.audit.api.urls")),
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    # The API reference pages are drf-spectacular's templates: their own inline <style> (and ReDoc's
    # inline script and blob: worker) need 'unsafe-inline' there; no page of the app does.
    re_path(
        r"^docs/?$",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    re_path(
        r"^redoc/?$",
        csp_update({"script-src": [UNSAFE_INLINE], "style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="api:schema")
        ),
        name="redoc",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include((api_patterns, "api"))),
    path("health", health, name="health"),
    path("metrics", include("apps.metrics.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("groups/", include("apps.groups.urls")),
    path("databases/", include("apps.databases.urls")),
    path("destinations/", include("apps.destinations.urls")),
    path("schedules/", include("apps.schedules.urls")),
    path("channels/", include("apps.notifications.urls")),
    path("keys/", include("apps.keys.urls")),
    path("audit/", include("apps.audit.urls")),
    path("", include("apps.backups.urls")),
]

# The site's error pages (apps.common.errors): its layout, the reason in words, JSON under /api/.
handler400 = "apps.common.errors.bad_request"
handler403 = "apps.common.errors.permission_denied"
handler404 = "apps.common.errors.page_not_found"
handler500 = "apps.common.errors.server_error"
