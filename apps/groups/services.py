"""Group and membership operations shared by the web UI and the API."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import Membership
from apps.groups.models import Group


def create_group(user, name: str, description: str = "") -> Group:
    """Create a group whose creator becomes its owner."""
    with transaction.atomic():
        group = Group.objects.create(name=name, description=description, created_by=user)
        Membership.objects.create(user=user, group=group, role=Membership.Role.OWNER)
    return group


def set_member(group: Group, username: str, role: str) -> Membership:
    """Add a user to the group or change their role; keeps at least one owner."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": [f"Choose one of: {', '.join(Membership.Role.values)}."]})
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": [f"No user named {username!r}."]})
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(group=group, user=user).first()
        if membership and membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
            _ensure_other_owner(group, user)
        if membership is None:
            membership = Membership.objects.create(group=group, user=user, role=role)
        elif membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    return membership


def remove_member(group: Group, user_id: int) -> None:
    """Remove a member; the last owner cannot be removed."""
    with transaction.atomic():
        membership = Membership.objects.filter(group=group, user_id=user_id).first()
        if membership is None:
            raise Membership.DoesNotExist
        if membership.role == Membership.Role.OWNER:
            _ensure_other_owner(group, membership.user)
        membership.delete()


def _ensure_other_owner(group: Group, user) -> None:
    others = Membership.objects.filter(group=group, role=Membership.Role.OWNER).exclude(user=user)
    if not others.exists():
        raise ValidationError({"role": ["A group needs at least one owner; add another owner first."]})
