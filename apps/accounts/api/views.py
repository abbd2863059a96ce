"""Register, log in (JWT), refresh, log out, who am I, personal API tokens and group invites."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenRefreshView

from apps.accounts import invites, throttling, tokens, twofactor
from apps.accounts.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    InviteAcceptSerializer,
    InviteCreatedSerializer,
    InviteCreateSerializer,
    InviteSerializer,
    LoginWithOtpSerializer,
    LogoutSerializer,
    RefreshSerializer,
    RegisteredUserSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from apps.accounts.authentication import is_api_token
from apps.accounts.models import ApiToken, GroupInvite
from apps.accounts.services import register_user
from apps.groups.models import Group

_Detail = inline_serializer("Detail", {"detail": serializers.CharField()})
_LoginRefused = inline_serializer(
    "LoginRefused",
    {
        "detail": serializers.CharField(),
        "otp_required": serializers.BooleanField(
            required=False, help_text="Present when the account wants a two-factor code as `otp`."
        ),
    },
)
_Joined = inline_serializer(
    "InviteJoined", {"group": serializers.IntegerField(), "role": serializers.CharField()}
)


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RegisterSerializer, responses={201: RegisteredUserSerializer, 403: _Detail})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = register_user(data["username"], data["password"], data.get("email", ""))
        return Response(RegisteredUserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(APIView):
    """Exchange username + password (+ two-factor code) for a JWT pair; failures lock per address."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=LoginWithOtpSerializer,
        responses={200: TokenPairSerializer, 401: _LoginRefused, 403: _Detail, 429: _Detail},
    )
    def post(self, request):
        serializer = LoginWithOtpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            # axes counts the failure and refuses a locked (username, address) pair.
            user = throttling.authenticate_checked(
                request._request, username=data["username"], password=data["password"]
            )
        except throttling.LoginLocked as exc:
            return Response({"detail": exc.message}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        if user is None:
            return Response({"detail": "Invalid username or password."}, status=status.HTTP_401_UNAUTHORIZED)
        if twofactor.required() and not twofactor.has_device(user):
            return Response(
                {"detail": "This server requires two-factor sign-in: turn it on in the web interface first."},
                status=status.HTTP_403_FORBIDDEN,
            )
        if twofactor.has_device(user):
            code = data.get("otp") or ""
            if not code:
                return Response(
                    {
                        "detail": "This account uses two-factor sign-in: send the code as `otp`.",
                        "otp_required": True,
                    },
                    status=status.HTTP_401_UNAUTHORIZED,
                )
            if twofactor.verify(user, code) is None:
                return Response(
                    {"detail": "That two-factor code is wrong or was already used.", "otp_required": True},
                    status=status.HTTP_401_UNAUTHORIZED,
                )
        refresh = tokens.issue_jwt(user)
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})


class RefreshView(TokenRefreshView):
    """A new access token and a new refresh token; the used refresh token is blacklisted."""

    authentication_classes = ()

    @extend_schema(
        responses={
            200: RefreshSerializer,
            401: OpenApiResponse(description="The refresh token is invalid, expired or revoked."),
        }
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    """Revoke a refresh token (blacklisted): it can no longer be refreshed."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=LogoutSerializer,
        responses={
            205: None,
            400: OpenApiResponse(
                description="Per-field errors: the refresh token is invalid, expired or revoked."
            ),
        },
    )
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tokens.revoke_refresh(serializer.validated_data["refresh"])
        return Response(status=status.HTTP_205_RESET_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=UserSerializer)
    def get(self, request):
        return Response(UserSerializer(request.user).data)


def _refuse_api_tokens(request) -> None:
    if is_api_token(request):
        # Otherwise an operate token could mint a manage token.
        raise PermissionDenied("Manage API tokens after signing in with your password, not with a token.")


class ApiTokenListView(generics.ListAPIView):
    """The caller's personal API tokens (paginated; secrets are never shown again)."""

    permission_classes = [IsAuthenticated]
    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return ApiToken.objects.none()
        _refuse_api_tokens(self.request)
        return ApiToken.objects.filter(user=self.request.user)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def post(self, request):
        _refuse_api_tokens(request)
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, raw = tokens.create_api_token(
            request.user, data["name"], data["scope"], data["expires_in_days"]
        )
        body = {
            "id": token.pk,
            "name": token.name,
            "scope": token.scope,
            "expires_at": token.expires_at,
            "token": raw,
        }
        return Response(ApiTokenCreatedSerializer(body).data, status=status.HTTP_201_CREATED)


class ApiTokenDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None, 404: _Detail})
    def delete(self, request, token_id: int):
        _refuse_api_tokens(request)
        if not tokens.revoke_api_token(request.user, token_id):
            raise NotFound("You have no API token with this id.")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _group(request, group_id) -> Group:
    group = Group.objects.visible_to(request.user).filter(pk=group_id).first()
    if group is None:
        raise NotFound("Not found.")
    return group


class GroupInviteListView(generics.ListAPIView):
    """Invite links of a group (owners): list the open ones (paginated), create one."""

    permission_classes = [IsAuthenticated]
    serializer_class = InviteSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return GroupInvite.objects.none()
        group = _group(self.request, self.kwargs["group_id"])
        invites.check_owner(group, self.request.user)
        return invites.open_invites(group).select_related("created_by")

    @extend_schema(request=InviteCreateSerializer, responses={201: InviteCreatedSerializer, 403: _Detail})
    def post(self, request, group_id: int):
        group = _group(request, group_id)
        serializer = InviteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        invite, raw = invites.create_invite(group, request.user, data["role"], data["expires_in_days"])
        url = request.build_absolute_uri(reverse("accounts:invite", args=[raw]))
        body = {
            "id": invite.pk,
            "role": invite.role,
            "url": url,
            "token": raw,
            "expires_at": invite.expires_at,
        }
        return Response(InviteCreatedSerializer(body).data, status=status.HTTP_201_CREATED)


class GroupInviteDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None, 403: _Detail, 404: _Detail})
    def delete(self, request, group_id: int, invite_id: int):
        group = _group(request, group_id)
        invites.revoke_invite(group, request.user, invite_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InviteAcceptView(APIView):
    """Join a group with an invite's token (signed in)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=InviteAcceptSerializer,
        responses={201: _Joined, 400: _Detail, 403: _Detail},
    )
    def post(self, request):
        _refuse_api_tokens(request)
        serializer = InviteAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = invites.accept_invite(serializer.validated_data["token"], request.user)
        return Response(
            {"group": membership.group_id, "role": membership.role}, status=status.HTTP_201_CREATED
        )
