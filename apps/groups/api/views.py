"""Groups and their members."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.accounts.models import Membership
from apps.accounts.permissions import GroupRolePermission
from apps.groups import locations as group_locations
from apps.groups import services
from apps.groups.api.serializers import GroupLocationSerializer, GroupSerializer, MemberSerializer
from apps.groups.models import Group


class GroupViewSet(viewsets.ModelViewSet):
    serializer_class = GroupSerializer
    permission_classes = [IsAuthenticated, GroupRolePermission]

    def get_queryset(self):
        user = self.request.user
        return Group.objects.visible_to(user).with_role(user).order_by("name")

    def group_id_of(self, obj) -> int:
        return obj.pk

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_group(
            self.request.user, data["name"], data.get("description", "")
        )

    # Plain lists, not pages: pagination_class=None keeps the schema from describing a page.
    @extend_schema(methods=["GET"], request=None, responses=MemberSerializer(many=True))
    @extend_schema(methods=["POST"], request=MemberSerializer, responses={201: MemberSerializer})
    @action(detail=True, methods=["get", "post"], url_path="members", pagination_class=None)
    def members(self, request, pk=None):
        group = self.get_object()
        if request.method == "POST":
            serializer = MemberSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            membership = services.set_member(
                group, serializer.validated_data["user"]["username"], serializer.validated_data["role"]
            )
            return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)
        memberships = Membership.objects.filter(group=group).select_related("user")
        return Response(MemberSerializer(memberships, many=True).data)

    @extend_schema(request=None, responses=GroupLocationSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="locations", pagination_class=None)
    def locations(self, request, pk=None):
        """The server folders this group may use: its own under each root, and the superuser's grants."""
        group = self.get_object()
        rows = group_locations.locations(group.pk)
        for row in rows:
            group_locations.make_folder(row.path)
        return Response(GroupLocationSerializer(rows, many=True).data)

    @extend_schema(
        responses={204: None, 400: OpenApiResponse(description="The group's only owner cannot be removed.")}
    )
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<user_id>\d+)")
    def remove_member(self, request, pk=None, user_id=None):
        group = self.get_object()
        try:
            services.remove_member(group, int(user_id))
        except Membership.DoesNotExist:
            return Response({"detail": "Not a member of this group."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)
