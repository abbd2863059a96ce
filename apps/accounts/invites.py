"""Invite links: an owner lets one person join a group with a role, once, before a date.

Only the sha256 of the link's secret is stored. Accepting is a conditional UPDATE
(used_at still empty, not revoked, not expired), so a link serves one person even
when two use it at the same moment. A valid link also lets a new person create an
account while sign-up is otherwise closed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts import roles
from apps.accounts.models import GroupInvite, Membership
from apps.accounts.services import register_user
from apps.groups import services as group_services

MAX_DAYS = 30


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def check_owner(group, user) -> None:
    if not roles.has_role(user, group.pk, roles.MANAGE):
        raise PermissionDenied("Only owners of this group can manage its invites.")


def create_invite(group, by, role: str, expires_in_days: int) -> tuple[GroupInvite, str]:
    """Create an invite (owners only) and return it with the link's secret, shown only now."""
    check_owner(group, by)
    errors: dict[str, list[str]] = {}
    if role not in Membership.Role.values:
        errors["role"] = ["Choose viewer, operator or owner."]
    if not isinstance(expires_in_days, int) or not 1 <= expires_in_days <= MAX_DAYS:
        errors["expires_in_days"] = [f"Choose between 1 and {MAX_DAYS} days."]
    if errors:
        raise ValidationError(errors)
    raw = secrets.token_urlsafe(32)
    invite = GroupInvite.objects.create(
        group=group,
        role=role,
        key_hash=_hash(raw),
        created_by=by,
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    return invite, raw


def find_invite(raw: str) -> GroupInvite | None:
    """The invite with this secret, whatever its state; None if there is none."""
    if not raw or len(raw) > 100:
        return None
    return GroupInvite.objects.select_related("group").filter(key_hash=_hash(raw)).first()


def _unusable_reason(invite: GroupInvite | None) -> str | None:
    if invite is None:
        return "This invite link is not valid."
    state = invite.state
    if state == "used":
        return "This invite link has already been used."
    if state == "revoked":
        return "This invite link was revoked by an owner of the group."
    if state == "expired":
        return "This invite link has expired. Ask an owner of the group for a new one."
    return None


def check_usable(invite: GroupInvite | None) -> None:
    reason = _unusable_reason(invite)
    if reason:
        raise ValidationError(reason, code="invite")


def accept_invite(raw: str, user) -> Membership:
    """Make the signed-in user a member with the invite's role, once."""
    invite = find_invite(raw)
    check_usable(invite)
    assert invite is not None  # check_usable refuses None
    if Membership.objects.filter(group=invite.group, user=user).exists():
        raise ValidationError(f"You are already a member of {invite.group.name}.", code="invite")
    with transaction.atomic():
        claimed = GroupInvite.objects.filter(
            pk=invite.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).update(used_at=timezone.now(), used_by=user)
        if not claimed:
            check_usable(GroupInvite.objects.get(pk=invite.pk))
            raise ValidationError("This invite link has already been used.", code="invite")
        try:
            return group_services.add_member(invite.group, user.username, invite.role)
        except ValidationError as exc:
            raise ValidationError(exc.messages, code="invite") from None


def register_with_invite(raw: str, username: str, password: str, email: str = ""):
    """Create an account (even with sign-up closed) and join the invite's group; all or nothing."""
    check_usable(find_invite(raw))
    with transaction.atomic():
        user = register_user(username, password, email, invited=True)
        accept_invite(raw, user)
    return user


def revoke_invite(group, by, invite_id) -> GroupInvite:
    check_owner(group, by)
    invite = GroupInvite.objects.get(group=group, pk=invite_id)  # DoesNotExist: 404 at the doors
    GroupInvite.objects.filter(pk=invite.pk, revoked_at__isnull=True, used_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    invite.refresh_from_db()
    return invite


def open_invites(group):
    return GroupInvite.objects.filter(
        group=group, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
