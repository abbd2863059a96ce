"""JWTs and personal API tokens: issuing, checking and revoking them.

JWTs carry a `gen` claim, the user's AccountSecurity.token_generation when they
were issued. revoke_all_tokens() blacklists every outstanding refresh token of
the user and bumps the generation, so access tokens issued before die as well.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.models import AccountSecurity, ApiToken

GENERATION_CLAIM = "gen"
API_TOKEN_PREFIX = "bm_"
# last_used_at is written at most once per this interval per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_TOKEN_DAYS = 366


def generation(user) -> int:
    return AccountSecurity.objects.filter(user=user).values_list("token_generation", flat=True).first() or 0


def issue_jwt(user) -> RefreshToken:
    """A refresh token (its .access_token derives the access token) carrying the generation."""
    refresh = RefreshToken.for_user(user)
    refresh[GENERATION_CLAIM] = generation(user)
    return refresh


def jwt_is_current(user, payload) -> bool:
    return payload.get(GENERATION_CLAIM) == generation(user)


def revoke_all_tokens(user) -> None:
    """Blacklist every refresh token of the user, invalidate every access token issued so far and
    delete the user's personal API tokens (a stolen account's tokens must not outlive its password)."""
    with transaction.atomic():
        security, _ = AccountSecurity.objects.get_or_create(user=user)
        AccountSecurity.objects.filter(pk=security.pk).update(
            token_generation=F("token_generation") + 1, tokens_valid_after=timezone.now()
        )
        for outstanding in OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True):
            BlacklistedToken.objects.get_or_create(token=outstanding)
        ApiToken.objects.filter(user=user).delete()


def revoke_refresh(raw: str) -> None:
    """Blacklist this refresh token (holding it proves it is yours); ValidationError if it is not one."""
    try:
        token = RefreshToken(raw)  # type: ignore[arg-type]  # simplejwt's stubs omit str
    except TokenError:
        raise ValidationError(
            {"refresh": ["This refresh token is invalid, expired or already revoked."]}
        ) from None
    token.blacklist()


# Personal API tokens


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_token(user, name: str, scope: str, expires_in_days: int) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is not stored and shown only now."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the token a name (what uses it)."]
    elif len(name) > ApiToken.NAME_MAX:
        errors["name"] = [f"Use at most {ApiToken.NAME_MAX} characters."]
    if scope not in ApiToken.Scope.values:
        errors["scope"] = ["Choose read, operate or manage."]
    if not isinstance(expires_in_days, int) or not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        errors["expires_in_days"] = [f"Choose between 1 and {MAX_TOKEN_DAYS} days."]
    if errors:
        raise ValidationError(errors)
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        scope=scope,
        key_hash=_hash(raw),
        prefix=raw[:10],
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    return token, raw


def find_api_token(raw: str) -> ApiToken | None:
    """The unexpired token with this secret (its user active), recording its use; else None."""
    if not raw.startswith(API_TOKEN_PREFIX):
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(raw), expires_at__gt=now, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_api_token(user, token_id) -> bool:
    """Delete one of the user's tokens; False if the user has no such token."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)
