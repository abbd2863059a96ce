from django.contrib import admin

from apps.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: entries are added by the app, never by hand, never changed or removed."""

    list_display = ["at", "actor_name", "action", "object_type", "object_id", "group_id", "ip", "outcome"]
    list_filter = ["outcome", "object_type"]
    search_fields = ["actor_name", "action", "object_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
