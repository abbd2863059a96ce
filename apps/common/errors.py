"""The site's 400/403/404/500 pages: in its layout, with the reason in words; JSON under /api/.

Django calls these for errors raised outside DRF's views (DRF answers its own views' errors as
JSON already). With DEBUG on Django shows its debug pages instead of 404 and 500, on purpose.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.html import escape

log = logging.getLogger(__name__)

TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 500: "Something went wrong"}
DEFAULT_REASONS = {
    400: "The request could not be understood. Check the address or the form and try again.",
    403: "You do not have permission to do this.",
    404: "There is nothing at this address, or it belongs to a group you are not a member of.",
    500: "The server failed to answer this request. It has been logged; try again in a moment.",
}


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _reason(status: int, exception: BaseException | None) -> str:
    # Only refusals carry words meant for the user (e.g. "needs the operator role in group X");
    # a 404's or 400's exception text is internal (URL patterns, parser details).
    if status == 403 and exception is not None and exception.args and str(exception).strip():
        return str(exception)
    return DEFAULT_REASONS[status]


def _page(request: HttpRequest, status: int, exception: BaseException | None = None) -> HttpResponse:
    reason = _reason(status, exception)
    if _wants_json(request):
        return JsonResponse({"detail": reason}, status=status)
    context = {"status": status, "title": TITLES[status], "reason": reason}
    body: str
    try:
        body = loader.render_to_string(f"{status}.html", context, request=request)
    except Exception:
        if status != 500:
            raise
        # The layout needs the database (the user) and may be what failed: say it plainly.
        log.exception("rendering the 500 page failed")
        title, text = escape(TITLES[500]), escape(reason)
        body = (
            f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{title}</title>'
            f'<main><h1>{title}</h1><p>{text}</p><p><a href="/">Back to the dashboard</a></p></main></html>'
        )
    return HttpResponse(body, status=status)


def bad_request(request: HttpRequest, exception: BaseException) -> HttpResponse:
    return _page(request, 400, exception)


def permission_denied(request: HttpRequest, exception: BaseException) -> HttpResponse:
    return _page(request, 403, exception)


def page_not_found(request: HttpRequest, exception: BaseException) -> HttpResponse:
    return _page(request, 404, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    return _page(request, 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a refused form post, explained (Django's reason is for developers)."""
    from django.core.exceptions import PermissionDenied

    return _page(
        request,
        403,
        PermissionDenied(
            "This form could not be accepted: it expired or your browser did not send its cookie. "
            "Reload the page and try again."
        ),
    )
