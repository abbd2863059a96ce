from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts.models import Membership
from apps.groups import services
from apps.groups.models import Group, GroupLocation


class MembershipInline(admin.TabularInline):
    """Read-only here: members are added, changed and removed on the Membership admin,
    which goes through apps.groups.services (the "keep one owner" rule)."""

    model = Membership
    extra = 0
    fields = ["user", "role", "change_link"]
    readonly_fields = ["user", "role", "change_link"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="")
    def change_link(self, obj) -> str:
        if not obj.pk:
            return ""
        return format_html(
            '<a href="{}">change</a>', reverse("admin:accounts_membership_change", args=[obj.pk])
        )


@admin.register(GroupLocation)
class GroupLocationAdmin(admin.ModelAdmin):
    """Folders granted to a group beyond its own `<root>/group-<id>` (apps.groups.locations).

    Only the superuser grants; granting one folder to several groups shares it on purpose.
    """

    list_display = ["group", "kind", "path", "is_default", "created_at"]
    list_filter = ["kind", "is_default"]
    search_fields = ["group__name", "path"]
    fields = ["group", "kind", "path", "is_default", "created_at"]
    readonly_fields = ["is_default", "created_at"]

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_by", "created_at"]
    search_fields = ["name", "description"]
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new group gets its owner like everywhere else: the one who creates it.
        created = services.create_group(request.user, obj.name, obj.description)
        obj.pk, obj.created_by, obj.created_at = created.pk, created.created_by, created.created_at
