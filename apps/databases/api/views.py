"""Databases: CRUD, extended details, and connection tests."""

from __future__ import annotations

from django.db.models import Count, Max, Q, Sum
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts.permissions import GroupRolePermission
from apps.backups.api.serializers import BackupSerializer
from apps.backups.models import Backup
from apps.databases import services
from apps.databases.api.filters import DatabaseFilter
from apps.databases.api.serializers import (
    ConnectionResultSerializer,
    ConnectionTestSerializer,
    DatabaseSerializer,
)
from apps.databases.models import Database
from apps.destinations.api.serializers import DestinationSerializer
from apps.engines import ConnectionInfo
from apps.schedules.api.serializers import ScheduleSerializer

RECENT_BACKUPS = 10


class DatabaseViewSet(viewsets.ModelViewSet):
    serializer_class = DatabaseSerializer
    permission_classes = [IsAuthenticated, GroupRolePermission]
    operator_actions = {"test"}
    filterset_class = DatabaseFilter

    def get_queryset(self):
        return Database.objects.visible_to(self.request.user).order_by("name", "id")

    def group_id_of(self, obj) -> int:
        return obj.group_id

    @action(detail=True, methods=["get"])
    def details(self, request, pk=None):
        database = self.get_object()
        context = self.get_serializer_context()
        data = DatabaseSerializer(database, context=context).data
        data["destinations"] = DestinationSerializer(
            database.destinations.order_by("name"), many=True, context={**context, "database": database}
        ).data
        data["schedules"] = ScheduleSerializer(
            database.schedules.order_by("name"), many=True, context=context
        ).data
        recent = database.backups.prefetch_related("copies").order_by("-created_at", "-id")[:RECENT_BACKUPS]
        data["recent_backups"] = BackupSerializer(recent, many=True, context=context).data
        data["stats"] = backup_stats(database)
        return Response(data)

    @extend_schema(request=None, responses=ConnectionResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        database = self.get_object()
        return Response(services.test_connection(database.connection_info()).as_dict())

    @extend_schema(request=ConnectionTestSerializer, responses=ConnectionResultSerializer)
    @action(detail=False, methods=["post"], url_path="test-connection")
    def test_connection(self, request):
        serializer = ConnectionTestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        conn = ConnectionInfo(
            engine=data["engine"],
            host=data.get("host", ""),
            port=data.get("port"),
            database_name=data.get("database_name", ""),
            username=data.get("username", ""),
            password=data.get("password", ""),
            options=data.get("options") or {},
        )
        return Response(services.test_connection(conn).as_dict(), status=status.HTTP_200_OK)


def backup_stats(database: Database) -> dict:
    """Counts and sizes of a database's backups, as `details` reports them."""
    status = Backup.Status
    agg = database.backups.aggregate(
        total_backups=Count("id"),
        completed=Count("id", filter=Q(status=status.COMPLETED)),
        partial=Count("id", filter=Q(status=status.PARTIAL)),
        failed=Count("id", filter=Q(status=status.FAILED)),
        total_size_bytes=Sum("size_bytes", filter=Q(status__in=[status.COMPLETED, status.PARTIAL])),
        last_success_at=Max("finished_at", filter=Q(status=status.COMPLETED)),
    )
    agg["total_size_bytes"] = agg["total_size_bytes"] or 0
    return agg
