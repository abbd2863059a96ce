from django.contrib import admin

from apps.notifications.models import NotificationChannel, NotificationLog


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    list_display = ["id", "group", "kind", "target", "events", "enabled", "created_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["target", "group__name"]
    # The secret is encrypted at rest and never shown.
    exclude = ["secret"]
    readonly_fields = ["created_at"]


@admin.register(NotificationLog)
class NotificationLogAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "event",
        "channel",
        "database",
        "backup",
        "status",
        "attempts",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "event"]
    search_fields = ["last_error"]
    readonly_fields = [f.name for f in NotificationLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
