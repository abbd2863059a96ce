from django.contrib import admin

from apps.destinations.models import Destination


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    list_display = ["name", "database", "kind", "path", "enabled", "created_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "path", "database__name"]
    exclude = ["secret_key"]
