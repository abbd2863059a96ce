"""Group and membership rules: the pages, the API and the admin all call these.

Every change of membership takes a row lock on the group first, so two owners who
demote or remove each other at the same moment are serialised: the second one sees
the first one's change and is refused, and the group keeps an owner.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import Membership
from apps.groups.models import Group

Role = Membership.Role


def create_group(user, name: str, description: str = "") -> Group:
    """Create a group whose creator becomes its owner."""
    with transaction.atomic():
        group = Group.objects.create(name=name, description=description, created_by=user)
        Membership.objects.create(user=user, group=group, role=Role.OWNER)
    return group


def find_user(username: str):
    """Return the user named `username` (exact match first, else the one case-insensitive match).

    Raises ValidationError on the username field when there is none.
    """
    username = (username or "").strip()
    users = get_user_model().objects
    user = users.filter(username=username).first()
    if user is None and username:
        matches = list(users.filter(username__iexact=username)[:2])
        user = matches[0] if len(matches) == 1 else None
    if user is None:
        raise ValidationError({"username": [f"There is no user named “{username}”."]})
    return user


def add_member(group: Group, username: str, role: str) -> Membership:
    """Add a user to the group with a role; refuses users who are already members."""
    _check_role(role)
    user = find_user(username)
    with transaction.atomic():
        _lock(group)
        if Membership.objects.filter(group=group, user=user).exists():
            raise ValidationError({"username": [f"{user.username} is already a member of this group."]})
        return Membership.objects.create(group=group, user=user, role=role)


def set_member(group: Group, username: str, role: str) -> Membership:
    """Add a user to the group or change their role; keeps at least one owner."""
    _check_role(role)
    user = find_user(username)
    with transaction.atomic():
        _lock(group)
        membership = Membership.objects.filter(group=group, user=user).first()
        if membership is None:
            return Membership.objects.create(group=group, user=user, role=role)
        return _change_role(membership, role)


def change_role(membership: Membership, role: str) -> Membership:
    """Give a member another role; the group's last owner cannot step down."""
    _check_role(role)
    with transaction.atomic():
        _lock(membership.group)
        current = Membership.objects.select_related("user").get(pk=membership.pk)
        return _change_role(current, role)


def remove_member(group: Group, user_id: int) -> None:
    """Remove a member; the last owner cannot be removed. Raises Membership.DoesNotExist."""
    with transaction.atomic():
        _lock(group)
        membership = Membership.objects.select_related("user").filter(group=group, user_id=user_id).first()
        if membership is None:
            raise Membership.DoesNotExist("Not a member of this group.")
        if membership.role == Role.OWNER:
            ensure_other_owner(membership)
        membership.delete()


def ensure_other_owner(membership: Membership) -> None:
    """Raise ValidationError when this membership is its group's only owner.

    Callers that change memberships call it with the group locked (see _lock); the admin's
    forms also call it to show the error on the form before saving.
    """
    others = Membership.objects.filter(group_id=membership.group_id, role=Role.OWNER).exclude(
        pk=membership.pk
    )
    if membership.role == Role.OWNER and not others.exists():
        raise ValidationError(
            {
                "role": [
                    f"A group needs at least one owner, and {membership.user.username} is its only "
                    "owner: make someone else owner first."
                ]
            }
        )


def _change_role(membership: Membership, role: str) -> Membership:
    if membership.role == Role.OWNER and role != Role.OWNER:
        ensure_other_owner(membership)
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def _lock(group: Group) -> None:
    """Hold the group's row until the transaction ends (FOR UPDATE; SQLite serialises writers anyway)."""
    list(Group.objects.select_for_update().filter(pk=group.pk).values_list("pk", flat=True))


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": [f"Choose one of: {', '.join(Role.values)}."]})
