"""Group memberships and roles (users are Django's own)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Membership(models.Model):
    """A user's role in one group."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        OPERATOR = "operator", "Operator"
        OWNER = "owner", "Owner"

    RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.OWNER: 3}

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "user_id"]
        constraints = [
            # One role per user and group; also serves the "role of user in group" lookup.
            models.UniqueConstraint(fields=["user", "group"], name="membership_user_group_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.group} ({self.role})"


class AccountSecurity(models.Model):
    """Per-user sign-in state: the generation that JWTs must carry to be valid.

    Revoking every token of a user (password change, deactivation) blacklists the
    user's refresh tokens and bumps the generation, so already issued access tokens
    die too (apps.accounts.authentication compares the `gen` claim).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="security")
    token_generation = models.PositiveIntegerField(default=0)
    tokens_valid_after = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"security of {self.user}"


class ApiToken(models.Model):
    """A personal API token for scripts and CI: stored as the sha256 of the secret."""

    class Scope(models.TextChoices):
        READ = "read", "Read (viewer)"
        OPERATE = "operate", "Operate (operator)"
        MANAGE = "manage", "Manage (owner)"

    # The highest role a token of each scope acts with (never above the user's own role).
    SCOPE_ROLE = {
        Scope.READ: Membership.Role.VIEWER,
        Scope.OPERATE: Membership.Role.OPERATOR,
        Scope.MANAGE: Membership.Role.OWNER,
    }
    NAME_MAX = 100

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=NAME_MAX)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="The first characters, to recognise it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class GroupInvite(models.Model):
    """A link that lets one person join a group with a role, once, before it expires."""

    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invite to {self.group} as {self.role}"

    @property
    def state(self) -> str:
        if self.used_at:
            return "used"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "open"
