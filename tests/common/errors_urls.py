"""The real URLs plus one view that fails, for the 500 page's test."""

from django.urls import path

from backupmanager.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


def _boom(request):
    raise RuntimeError("a bug, with internals the page must not show: /srv/secret-path")


urlpatterns = [path("boom", _boom), path("api/boom", _boom), *urlpatterns]
