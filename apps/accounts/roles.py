"""Who may do what: viewer < operator < owner; superusers may do everything."""

from __future__ import annotations

from apps.accounts.models import Membership

Role = Membership.Role

# What each action needs at least.
VIEW = Role.VIEWER
OPERATE = Role.OPERATOR  # trigger, download, verify, restore
MANAGE = Role.OWNER  # edit, delete, members


def role_in(user, group_id: int) -> str | None:
    """Return the user's role in the group (owner for superusers), or None."""
    if not user or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.OWNER
    return Membership.objects.filter(user=user, group_id=group_id).values_list("role", flat=True).first()


def has_role(user, group_id: int, needed: str) -> bool:
    """Return True if the user's role in the group is at least `needed`."""
    role = role_in(user, group_id)
    return role is not None and Membership.RANK[role] >= Membership.RANK[needed]
