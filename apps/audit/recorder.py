"""Recording audit entries: the request in progress (who, from where) and record().

The middleware (apps.audit.middleware) puts the current request into a context
variable; record() reads the actor and address from it, so the receivers in
handlers.py need no request of their own. Outside a request (the worker,
management commands) the actor is given explicitly or is the system.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from django.db import transaction

from apps.accounts.throttling import client_ip
from apps.audit.models import AuditEntry

log = logging.getLogger(__name__)

_request: contextvars.ContextVar[Any] = contextvars.ContextVar("audit_request", default=None)

# Never stored in detail, whatever a caller passes (a last line of defence; callers allow-list).
FORBIDDEN_KEYS = frozenset(
    {"password", "secret", "secret_access_key", "private_key", "identity", "token", "key", "otp", "code"}
)


def set_request(request) -> contextvars.Token:
    return _request.set(request)


def reset_request(token: contextvars.Token) -> None:
    _request.reset(token)


def current_request():
    return _request.get()


def request_user():
    """The signed-in user of the current request (after DRF authenticated it), or None."""
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if getattr(user, "is_authenticated", False) else None


def request_ip(request=None) -> str | None:
    request = request if request is not None else _request.get()
    if request is None:
        return None
    address = client_ip(request)
    return None if address == "unknown" else address


def _clean(detail: dict | None) -> dict:
    return {k: v for k, v in (detail or {}).items() if k.lower() not in FORBIDDEN_KEYS}


def record(
    action: str,
    *,
    obj=None,
    object_type: str = "",
    object_id: object = "",
    group_id: int | None = None,
    outcome: str = AuditEntry.Outcome.SUCCESS,
    detail: dict | None = None,
    actor=None,
    actor_name: str | None = None,
    request=None,
) -> AuditEntry | None:
    """Add one entry. The actor defaults to the current request's user (else the system).

    Never raises: an audit failure is logged, it does not undo or break what was done.
    """
    if actor is None and actor_name is None:
        if request is not None:
            user = getattr(request, "user", None)
            actor = user if getattr(user, "is_authenticated", False) else None
        else:
            actor = request_user()
    if actor_name is None:
        actor_name = actor.get_username() if actor is not None else ""
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or obj.pk
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the caller's transaction usable
            return AuditEntry.objects.create(
                actor=actor,
                actor_name=(actor_name or "")[:150],
                action=action[:64],
                object_type=object_type[:64],
                object_id=str(object_id or "")[:64],
                group_id=group_id,
                ip=request_ip(request),
                outcome=outcome,
                detail=_clean(detail),
            )
    except Exception:
        log.exception("could not record the audit entry %s", action)
        return None
