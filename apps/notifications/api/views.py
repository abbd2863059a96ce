"""A group's notification channels, nested under /api/groups/{group_id}/channels/."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts import roles
from apps.groups.models import Group
from apps.notifications import delivery
from apps.notifications.api.serializers import (
    ChannelTestResultSerializer,
    NotificationChannelSerializer,
    NotificationLogSerializer,
)
from apps.notifications.models import NotificationChannel


class NotificationChannelViewSet(viewsets.ModelViewSet):
    """Members of the group read; owners create, change, delete and test."""

    serializer_class = NotificationChannelSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = None

    @property
    def group(self) -> Group:
        if not hasattr(self, "_group"):
            self._group = get_object_or_404(
                Group.objects.visible_to(self.request.user), pk=self.kwargs["group_id"]
            )
        return self._group

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no URL kwargs
            return NotificationChannel.objects.none()
        return NotificationChannel.objects.filter(group=self.group).order_by("id")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if getattr(self, "swagger_fake_view", False):
            return
        _ = self.group  # 404 for groups outside the caller's memberships
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            if not roles.has_role(request.user, self.group.pk, roles.MANAGE):
                raise PermissionDenied("Only the group's owners can change or test notification channels.")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "group_id" in self.kwargs and not getattr(self, "swagger_fake_view", False):
            # Webhook URLs often carry a token: members below owner see the host only.
            context["reveal_targets"] = roles.has_role(self.request.user, self.group.pk, roles.MANAGE)
        return context

    def perform_create(self, serializer):
        serializer.save(group=self.group)

    @extend_schema(request=None, responses=ChannelTestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, group_id=None, pk=None):
        """Send a test message now; 200 with ok false and the reason when the channel did not accept it."""
        channel = self.get_object()
        return Response(delivery.send_test(channel), status=status.HTTP_200_OK)

    @extend_schema(responses=NotificationLogSerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, group_id=None, pk=None):
        """The channel's latest 50 delivery attempts."""
        channel = self.get_object()
        return Response(
            NotificationLogSerializer(channel.deliveries.order_by("-created_at", "-id")[:50], many=True).data
        )
