"""A group's encryption keys, nested under /api/groups/{group_id}/keys/."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts import roles
from apps.groups.models import Group
from apps.keys import services
from apps.keys.api.serializers import CreatedKeySerializer, GroupKeyCreateSerializer, GroupKeySerializer
from apps.keys.models import GroupKey


class GroupKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Members of the group list keys; owners generate, import and delete them."""

    serializer_class = GroupKeySerializer
    permission_classes = [IsAuthenticated]

    @property
    def group(self) -> Group:
        if not hasattr(self, "_group"):
            self._group = get_object_or_404(
                Group.objects.visible_to(self.request.user), pk=self.kwargs["group_id"]
            )
        return self._group

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no URL kwargs
            return GroupKey.objects.none()
        return GroupKey.objects.filter(group=self.group).order_by("-created_at", "-id")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if getattr(self, "swagger_fake_view", False):
            return
        _ = self.group  # 404 for groups outside the caller's memberships
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            if not roles.has_role(request.user, self.group.pk, roles.MANAGE):
                raise PermissionDenied("Only the group's owners can add or delete encryption keys.")

    @extend_schema(request=GroupKeyCreateSerializer, responses={201: CreatedKeySerializer})
    def create(self, request, group_id=None):
        """Generate a key pair (the secret key is in this response only) or import a recipient."""
        body = GroupKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            made = services.create_key(
                self.group,
                data["name"],
                recipient=data.get("recipient"),
                keep_identity=data["keep_identity"],
            )
        except DjangoValidationError as exc:
            raise DRFValidationError(exc.message_dict) from None
        data = CreatedKeySerializer(made.key, context={"identity": made.identity}).data
        return Response(data, status=status.HTTP_201_CREATED)

    def destroy(self, request, group_id=None, pk=None):
        """Delete a key; 409 while a database encrypts its backups with it."""
        try:
            services.delete_key(self.get_object())
        except services.KeyInUse as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)
