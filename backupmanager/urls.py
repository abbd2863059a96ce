"""URL routes: each app's HTML views and its api/ package."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.common.views import health

api_patterns = [
    path("auth/", include("apps.accounts.api.urls")),
    path("groups/<int:group_id>/channels/", include("apps.notifications.api.urls")),
    path("groups/<int:group_id>/keys/", include("apps.keys.api.urls")),
    path("groups/", include("apps.groups.api.urls")),
    path("databases/", include("apps.databases.api.urls")),
    path("databases/<int:database_id>/destinations/", include("apps.destinations.api.urls")),
    path("schedules/", include("apps.schedules.api.urls")),
    path("", include("apps.backups.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include((api_patterns, "api"))),
    path("health", health, name="health"),
    path("accounts/", include("apps.accounts.urls")),
    path("groups/", include("apps.groups.urls")),
    path("databases/", include("apps.databases.urls")),
    path("destinations/", include("apps.destinations.urls")),
    path("schedules/", include("apps.schedules.urls")),
    path("channels/", include("apps.notifications.urls")),
    path("keys/", include("apps.keys.urls")),
    path("", include("apps.backups.urls")),
]
