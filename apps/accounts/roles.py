"""Who may do what: viewer < operator < owner; superusers may do everything."""

from __future__ import annotations

from apps.accounts.models import ApiToken, Membership

Role = Membership.Role

# What each action needs at least.
VIEW = Role.VIEWER
OPERATE = Role.OPERATOR  # trigger, download, verify, restore
MANAGE = Role.OWNER  # edit, delete, members


# Set on request.user by apps.accounts.authentication for a request made with a personal API token.
TOKEN_SCOPE_ATTR = "api_token_scope"


def role_in(user, group_id: int) -> str | None:
    """Return the user's role in the group (owner for superusers), or None.

    A request made with a personal API token acts with at most its scope's role:
    min(scope, role), so a token is never above the user's own role.
    """
    if not user or not user.is_authenticated:
        return None
    role: str | None
    if user.is_superuser:
        role = Role.OWNER
    else:
        role = Membership.objects.filter(user=user, group_id=group_id).values_list("role", flat=True).first()
    return capped(user, role)


def capped(user, role: str | None) -> str | None:
    """The role a request acts with: `role`, lowered to its personal API token's scope if any."""
    scope = getattr(user, TOKEN_SCOPE_ATTR, None)
    if role is None or scope is None:
        return role
    cap = ApiToken.SCOPE_ROLE.get(scope, Role.VIEWER)
    return cap if Membership.RANK[Role(cap)] < Membership.RANK[Role(role)] else role


def has_role(user, group_id: int, needed: str) -> bool:
    """Return True if the user's role in the group is at least `needed`."""
    role = role_in(user, group_id)
    return role is not None and Membership.RANK[Role(role)] >= Membership.RANK[Role(needed)]
