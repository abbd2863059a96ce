from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from apps.accounts.models import Membership
from apps.groups import services


class MembershipAdminForm(forms.ModelForm):
    """Adds and role changes are checked by the group services before saving."""

    class Meta:
        model = Membership
        fields = ["user", "group", "role"]

    def clean(self):
        data = super().clean()
        if self.instance.pk and data.get("role") and data["role"] != Membership.Role.OWNER:
            try:
                services.ensure_other_owner(
                    Membership.objects.select_related("user").get(pk=self.instance.pk)
                )
            except ValidationError as exc:
                self.add_error("role", exc.message_dict.get("role", exc.messages))
        return data


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Every change goes through apps.groups.services, like the pages and the API."""

    form = MembershipAdminForm
    list_display = ["user", "group", "role", "created_at"]
    list_filter = ["role", "group"]
    search_fields = ["user__username", "group__name"]
    autocomplete_fields = ["user", "group"]

    def get_readonly_fields(self, request, obj=None):
        # Moving a membership to another user or group would bypass the owner rule of the old group.
        return ["user", "group"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            services.change_role(obj, form.cleaned_data["role"])
        else:
            created = services.add_member(obj.group, obj.user.username, obj.role)
            obj.pk, obj.created_at = created.pk, created.created_at

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None:
            try:
                services.ensure_other_owner(obj)
            except ValidationError:
                return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.remove_member(obj.group, obj.user_id)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "group"):
            try:
                services.remove_member(membership.group, membership.user_id)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
