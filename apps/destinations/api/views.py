"""A database's destinations, nested under /api/databases/{database_id}/destinations/."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts import roles
from apps.accounts.permissions import GroupRolePermission
from apps.databases.models import Database
from apps.destinations import services
from apps.destinations.api.serializers import (
    DestinationSerializer,
    DestinationTestResultSerializer,
    HostKeySerializer,
    PathCheckSerializer,
    ScanFailedSerializer,
    ScanHostKeySerializer,
    ValidatePathSerializer,
)
from apps.destinations.models import Destination
from apps.destinations.paths import validate_local_path
from apps.destinations.storage import StorageError


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
        serializer.save()

    def perform_update(self, serializer):
        serializer.save()

    @extend_schema(request=None, responses=DestinationTestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, database_id=None, pk=None):
        """Write, read back and delete a probe file; 200 {ok, message} whatever the outcome."""
        destination = self.get_object()
        self._require_owner()
        return Response(services.test_destination(destination).as_dict(), status=status.HTTP_200_OK)

    @extend_schema(
        request=ScanHostKeySerializer,
        responses={200: HostKeySerializer, 400: ScanFailedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="scan-host-key")
    def scan_host_key(self, request, database_id=None):
        """Ask an SFTP server for its host key, for the owner to confirm; nothing is stored."""
        self._require_owner()
        serializer = ScanHostKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = services.scan_host_key(data["host"], data.get("port"))
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        except StorageError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result, status=status.HTTP_200_OK)

    @extend_schema(request=ValidatePathSerializer, responses=PathCheckSerializer)
    @action(detail=False, methods=["post"], url_path="validate-path")
    def validate_path(self, request, database_id=None):
        # 404 outside the caller's groups; only owners (who add destinations) probe folders.
        self._require_owner()
        serializer = ValidatePathSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            validate_local_path(serializer.validated_data["path"], self.database.group_id).as_dict(),
            status=status.HTTP_200_OK,
        )
