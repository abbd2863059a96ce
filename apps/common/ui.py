"""Helpers shared by the HTML views: role checks scoped to the caller's groups."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from apps.accounts.models import Membership
from apps.accounts.roles import Role, role_in
from apps.groups.models import Group

# Keyed by the role's value: role_in() and the views pass plain strings.
RANK: dict[str, int] = {role.value: rank for role, rank in Membership.RANK.items()}


def role_flags(user, group_id: int) -> dict:
    """The caller's role in a group and what it allows, for templates."""
    role = role_in(user, group_id)
    rank = RANK.get(role, 0) if role else 0
    return {
        "role": role,
        "can_view": rank >= RANK[Role.VIEWER],
        "can_operate": rank >= RANK[Role.OPERATOR],
        "can_manage": rank >= RANK[Role.OWNER],
    }


def require_role(user, group_id: int, needed: str) -> dict:
    """Return role_flags, or raise PermissionDenied when the role is below `needed`."""
    flags = role_flags(user, group_id)
    if not flags["role"] or RANK[flags["role"]] < RANK[needed]:
        # Members may know their group's name; others are told no more than before.
        name = flags["role"] and Group.objects.filter(pk=group_id).values_list("name", flat=True).first()
        where = f"group {name!r}" if name else "the group"
        raise PermissionDenied(f"This needs the {Role(needed).label.lower()} role in {where}.")
    return flags


def managed_group_ids(user) -> list[int] | None:
    """Ids of groups the user owns; None means every group (superuser)."""
    if user.is_superuser:
        return None
    return list(Membership.objects.filter(user=user, role=Role.OWNER).values_list("group_id", flat=True))


def operable_group_ids(user) -> list[int] | None:
    """Ids of groups where the user is at least operator; None means every group."""
    if user.is_superuser:
        return None
    return list(
        Membership.objects.filter(user=user, role__in=[Role.OPERATOR, Role.OWNER]).values_list(
            "group_id", flat=True
        )
    )


class ScopedObjectMixin(LoginRequiredMixin, metaclass=ABCMeta):
    """Single-object views limited to the caller's groups.

    Objects outside those groups are 404 (their existence is not revealed);
    members whose role is below `required_role` get 403. The caller's flags
    (role, can_operate, can_manage) land in the context.
    """

    required_role: str = Role.VIEWER
    request: HttpRequest

    @abstractmethod
    def scoped_queryset(self) -> QuerySet:
        """The objects of the caller's groups."""

    @abstractmethod
    def group_id_of(self, obj) -> int:
        """The group an object belongs to."""

    def get_queryset(self) -> QuerySet:
        return self.scoped_queryset()

    def get_object(self, queryset=None):
        queryset = self.get_queryset() if queryset is None else queryset
        obj = get_object_or_404(queryset, pk=self.kwargs["pk"])
        self.flags = require_role(self.request.user, self.group_id_of(obj), self.required_role)
        return obj

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(getattr(self, "flags", {}))
        return context
