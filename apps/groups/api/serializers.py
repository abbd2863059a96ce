from __future__ import annotations

from rest_framework import serializers

from apps.accounts import roles
from apps.accounts.models import Membership
from apps.common.serializers import StrictSerializerMixin, ValidatedModelSerializer
from apps.groups.models import Group, GroupLocation


class GroupSerializer(ValidatedModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Group
        fields = ["id", "name", "description", "role", "created_at"]
        read_only_fields = ["id", "role", "created_at"]

    def get_role(self, obj) -> str | None:
        request = self.context.get("request")
        if hasattr(obj, "my_role"):  # annotated by the viewset's queryset
            # A personal API token acts with at most its scope's role.
            return roles.capped(request.user, obj.my_role) if request else obj.my_role
        return roles.role_in(request.user, obj.pk) if request else None

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value


class MemberSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Membership.Role.choices)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "created_at"]
        read_only_fields = ["user_id", "created_at"]


class GroupLocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = GroupLocation
        fields = ["id", "kind", "path"]
        read_only_fields = fields
