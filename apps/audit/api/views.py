from __future__ import annotations

from rest_framework import viewsets
from rest_framework.permissions import IsAuthenticated

from apps.audit.api.serializers import AuditEntrySerializer
from apps.audit.filters import AuditEntryFilter
from apps.audit.models import AuditEntry


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log, newest first: owners read their groups' entries, superusers all. Nobody writes."""

    serializer_class = AuditEntrySerializer
    permission_classes = [IsAuthenticated]
    filterset_class = AuditEntryFilter

    def get_queryset(self):
        return AuditEntry.objects.visible_to(self.request.user).order_by("-at", "-id")
