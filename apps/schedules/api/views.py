"""Schedules, the next-runs preview and the retention preview."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts.permissions import GroupRolePermission
from apps.backups import retention
from apps.schedules import cron
from apps.schedules.api.filters import ScheduleFilter
from apps.schedules.api.serializers import (
    PreviewResultSerializer,
    PreviewSerializer,
    RetentionPreviewSerializer,
    ScheduleSerializer,
)
from apps.schedules.models import Schedule


class ScheduleViewSet(viewsets.ModelViewSet):
    serializer_class = ScheduleSerializer
    permission_classes = [IsAuthenticated, GroupRolePermission]
    filterset_class = ScheduleFilter

    def get_queryset(self):
        queryset = Schedule.objects.visible_to(self.request.user).select_related("database")
        return queryset.order_by("database_id", "name", "id")

    def group_id_of(self, obj) -> int:
        return obj.database.group_id

    @extend_schema(request=PreviewSerializer, responses=PreviewResultSerializer)
    @action(detail=False, methods=["post"])
    def preview(self, request):
        serializer = PreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        runs = cron.next_runs(data["cron_expression"], data["timezone"], timezone.now(), data["count"])
        return Response(
            {
                "cron_expression": data["cron_expression"],
                "timezone": data["timezone"],
                "next_runs": [r.isoformat().replace("+00:00", "Z") for r in runs],
            }
        )

    @extend_schema(request=None, responses=RetentionPreviewSerializer)
    @action(detail=True, methods=["get"], url_path="retention-preview")
    def retention_preview(self, request, pk=None):
        return Response(retention.preview(self.get_object()))
