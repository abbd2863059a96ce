"""DRF permissions built on group roles (viewer < operator < owner)."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.accounts import roles


class GroupRolePermission(BasePermission):
    """Read needs viewer, writes need owner; views may name extra actions needing operator.

    Views define `group_id_of(obj)` and may set `operator_actions = {...}`.
    Object visibility (404 for outsiders) comes from each view's get_queryset.
    """

    message = "Your role in this group does not allow this action."

    def has_object_permission(self, request, view, obj) -> bool:
        group_id = view.group_id_of(obj)
        if view.action in getattr(view, "operator_actions", ()):
            needed = roles.OPERATE
        elif request.method in SAFE_METHODS:
            needed = roles.VIEW
        else:
            needed = roles.MANAGE
        return roles.has_role(request.user, group_id, needed)
