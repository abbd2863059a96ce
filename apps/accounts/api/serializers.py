from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts import invites, tokens
from apps.accounts.models import ApiToken, GroupInvite, Membership
from apps.common.serializers import StrictSerializerMixin


class RegisterSerializer(StrictSerializerMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class LoginSerializer(StrictSerializerMixin, serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})


class UserSerializer(serializers.ModelSerializer):
    # Not an EmailField: an account may have no address (""), which is not a valid "email".
    email = serializers.CharField(read_only=True)

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "is_superuser"]
        read_only_fields = fields


class RegisteredUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email"]
        read_only_fields = fields


class LoginWithOtpSerializer(LoginSerializer):
    otp = serializers.CharField(
        required=False, allow_blank=True, max_length=32, help_text="Two-factor code, or a recovery code."
    )


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, refusing tokens of an older generation and a token used twice at once."""

    def validate(self, attrs):
        token = RefreshToken(attrs["refresh"])  # checks signature, expiry and the blacklist
        user = get_user_model().objects.filter(pk=token.payload.get("user_id")).first()
        if user is None or not user.is_active:
            raise AuthenticationFailed("No active account found for the given token.", "no_active_account")
        if not tokens.jwt_is_current(user, token.payload):
            raise InvalidToken("This refresh token was revoked. Sign in again.")
        # Rotation: the used token is blacklisted first; of two requests with one token, one wins.
        _, created = token.blacklist()
        if not created:
            raise InvalidToken("This refresh token was already used.")
        data = {"access": str(token.access_token)}
        token.set_jti()
        token.set_exp()
        token.set_iat()
        token.outstand()
        data["refresh"] = str(token)
        return data


class LogoutSerializer(StrictSerializerMixin, serializers.Serializer):
    refresh = serializers.CharField()


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "scope", "prefix", "created_at", "expires_at", "last_used_at"]
        read_only_fields = fields


class ApiTokenCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=ApiToken.NAME_MAX)
    scope = serializers.ChoiceField(choices=ApiToken.Scope.choices)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=tokens.MAX_TOKEN_DAYS, default=90)


class ApiTokenCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    scope = serializers.CharField()
    expires_at = serializers.DateTimeField()
    token = serializers.CharField(help_text="Shown only now; it is stored hashed.")


class InviteCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=invites.MAX_DAYS, default=7)


class InviteSerializer(serializers.ModelSerializer):
    created_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    state = serializers.CharField(read_only=True)

    class Meta:
        model = GroupInvite
        fields = ["id", "role", "created_by", "created_at", "expires_at", "state"]
        read_only_fields = fields


class InviteCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    url = serializers.CharField()
    token = serializers.CharField(help_text="Shown only now; it is stored hashed.")
    expires_at = serializers.DateTimeField()


class InviteAcceptSerializer(StrictSerializerMixin, serializers.Serializer):
    token = serializers.CharField(max_length=100)
