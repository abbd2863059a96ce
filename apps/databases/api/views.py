"""Databases: CRUD, extended details, and connection tests."""

from __future__ import annotations

from django.db.models import Count, Max, Q, Sum
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts import roles
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
from apps.databases.throttles import OWNERS_ONLY, ConnectionTestThrottle
from apps.destinations.api.serializers import DestinationSerializer
from apps.groups.models import Group
from apps.schedules.api.serializers import ScheduleSerializer

RECENT_BACKUPS = 10
CONNECTION_TESTS = {"test", "test_connection"}


class ConnectionTestPermission(GroupRolePermission):
    """A connection test needs the owner role (POST: the MANAGE level), and says why."""

    message = OWNERS_ONLY


class DatabaseViewSet(viewsets.ModelViewSet):
    serializer_class = DatabaseSerializer
    permission_classes = [IsAuthenticated, GroupRolePermission]
    filterset_class = DatabaseFilter

    def get_permissions(self):
        if self.action in CONNECTION_TESTS:
            return [IsAuthenticated(), ConnectionTestPermission()]
        return super().get_permissions()

    def get_throttles(self):
        if self.action in CONNECTION_TESTS:
            return [*super().get_throttles(), ConnectionTestThrottle()]
        return super().get_throttles()

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
        group_id = request.data.get("group_id") if hasattr(request.data, "get") else None
        mine = Group.objects.visible_to(request.user)
        if isinstance(group_id, int) and mine.filter(pk=group_id).exists():
            owner = roles.has_role(request.user, group_id, roles.MANAGE)
        else:  # no group of the caller named: the serializer says so, if the caller owns any group
            owner = request.user.is_superuser or any(
                roles.has_role(request.user, pk, roles.MANAGE) for pk in mine.values_list("pk", flat=True)
            )
        if not owner:
            raise PermissionDenied(OWNERS_ONLY)
        serializer = ConnectionTestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        # The model checked and settled the fields (Database.clean); test what it would save.
        data = {k: v for k, v in serializer.validated_data.items() if k != "group_id"}
        conn = Database(group_id=serializer.validated_data["group_id"], **data).connection_info()
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
