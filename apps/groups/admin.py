from django.contrib import admin

from apps.accounts.models import Membership
from apps.groups.models import Group


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_by", "created_at"]
    search_fields = ["name", "description"]
    inlines = [MembershipInline]
