"""A database's destinations, nested under /api/databases/{database_id}/destinations/."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts import roles
from apps.accounts.permissions import GroupRolePermission
from apps.databases.models import Database
from apps.destinations.api.serializers import (
    DestinationSerializer,
    PathCheckSerializer,
    ValidatePathSerializer,
)
from apps.destinations.models import Destination
from apps.destinations.paths import validate_local_path
from apps.destinations.services import prepare_local_folder


class DestinationViewSet(viewsets.ModelViewSet):
    serializer_class = DestinationSerializer
    permission_classes = [IsAuthenticated, GroupRolePermission]
    pagination_class = None

    @property
    def database(self) -> Database:
        if not hasattr(self, "_database"):
            self._database = get_object_or_404(
                Database.objects.visible_to(self.request.user), pk=self.kwargs["database_id"]
            )
        return self._database

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no URL kwargs
            return Destination.objects.none()
        return self.database.destinations.order_by("name")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "database_id" in self.kwargs:
            context["database"] = self.database
        return context

    def group_id_of(self, obj) -> int:
        return obj.database.group_id

    def _require_owner(self) -> None:
        if not roles.has_role(self.request.user, self.database.group_id, roles.MANAGE):
            raise PermissionDenied("Only the group's owners can change destinations.")

    def perform_create(self, serializer):
        self._require_owner()
        path = prepare_local_folder(serializer.validated_data["path"])
        serializer.save(database=self.database, path=path)

    def perform_update(self, serializer):
        if "path" in serializer.validated_data:
            serializer.validated_data["path"] = prepare_local_folder(serializer.validated_data["path"])
        serializer.save()

    @extend_schema(request=ValidatePathSerializer, responses=PathCheckSerializer)
    @action(detail=False, methods=["post"], url_path="validate-path")
    def validate_path(self, request, database_id=None):
        # 404 outside the caller's groups; only owners (who add destinations) probe folders.
        self._require_owner()
        serializer = ValidatePathSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            validate_local_path(serializer.validated_data["path"]).as_dict(), status=status.HTTP_200_OK
        )
