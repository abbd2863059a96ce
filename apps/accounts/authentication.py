"""DRF authentication: JWTs that die with a password change, and personal API tokens."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS
from rest_framework_simplejwt import authentication as jwt_authentication

from apps.accounts import roles, tokens
from apps.accounts.models import ApiToken


class JWTAuthentication(jwt_authentication.JWTAuthentication):
    """simplejwt's, refusing access tokens issued before the user's tokens were revoked."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not tokens.jwt_is_current(user, validated_token.payload):
            raise exceptions.AuthenticationFailed(
                "This token was revoked (password change, sign-out everywhere or deactivation). Sign in again.",
                code="token_revoked",
            )
        return user


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Token bm_…`: a personal API token, acting with at most its scope's role."""

    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the header as `Authorization: Token <token>`.")
        try:
            raw = parts[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("This API token is invalid.") from None
        token = tokens.find_api_token(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("This API token is invalid, expired or revoked.")
        if token.scope == ApiToken.Scope.READ and request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied("This API token has the read scope: it may only read.")
        user = token.user
        setattr(user, roles.TOKEN_SCOPE_ATTR, token.scope)
        return user, token

    def authenticate_header(self, request):
        return self.keyword


def is_api_token(request) -> bool:
    return isinstance(getattr(request, "auth", None), ApiToken)


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI schema's bearer scheme for this subclass of simplejwt's authentication."""

    target_class = "apps.accounts.authentication.JWTAuthentication"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A personal API token: `Token bm_…` (see /api/auth/tokens/).",
        }
