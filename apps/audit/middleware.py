"""AuditMiddleware: makes the current request known to the audit receivers, and records what no
model signal tells: downloads of backups and sign-ins through the API."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model

from apps.accounts import roles
from apps.audit.models import AuditEntry
from apps.audit.recorder import record, reset_request, set_request
from apps.backups.models import Backup

# The page's and the API's download doors (an HttpResponse streams the file: no signal says so).
DOWNLOAD_VIEWS = {"backups:download", "api:backup-download"}
# JWT sign-in: authenticate() signals failures, but nothing signals a success.
API_LOGIN_VIEW = "api:login"


def _outcome(status: int, allowed: bool) -> str:
    """success, denied (no right to it: 401, 403, or another group's 404), or failure (e.g. no copy)."""
    if status < 400:
        return AuditEntry.Outcome.SUCCESS
    if status in (401, 403) or not allowed:
        return AuditEntry.Outcome.DENIED
    return AuditEntry.Outcome.FAILURE


class AuditMiddleware:
    """Place after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_request(request)
        try:
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            view = match.view_name if match is not None else ""
            if view in DOWNLOAD_VIEWS:
                self._download(request, match, response)
            elif view == API_LOGIN_VIEW and response.status_code == 200:
                self._api_login(request)
            return response
        finally:
            reset_request(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.resolver_match.view_name == API_LOGIN_VIEW and request.method == "POST":
            try:  # read (and cache) the body before DRF does: the username is all that is kept
                request._audit_username = str(json.loads(request.body or b"{}").get("username", ""))[:150]
            except (ValueError, AttributeError, UnicodeDecodeError):
                request._audit_username = ""
        return None

    def _download(self, request, match, response) -> None:
        backup = Backup.objects.select_related("database").filter(pk=match.kwargs.get("pk")).first()
        if backup is None:
            return
        detail = {"status_code": response.status_code}
        destination = request.GET.get("destination_id")
        if destination:
            detail["destination_id"] = destination[:20]
        if response.has_header("Content-Range"):
            detail["range"] = response["Content-Range"][:100]
        record(
            "backup.download",
            obj=backup,
            group_id=backup.database.group_id,
            outcome=_outcome(
                response.status_code, roles.has_role(request.user, backup.database.group_id, roles.OPERATE)
            ),
            detail=detail,
        )

    def _api_login(self, request) -> None:
        username = getattr(request, "_audit_username", "")
        User = get_user_model()
        user = User._default_manager.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).first()
        if user is not None:
            record("login", obj=user, object_type="user", actor=user, detail={"via": "api"})
