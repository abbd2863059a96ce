from django.contrib import admin

from apps.schedules.models import Schedule, ScheduleRun


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "database",
        "interval_value",
        "cron_expression",
        "timezone",
        "enabled",
        "next_run_at",
        "last_run_at",
        "keep_last",
        "keep_days",
        "keep_daily",
        "keep_weekly",
        "keep_monthly",
        "keep_yearly",
    ]
    list_filter = ["enabled", "interval_value", "timezone"]
    search_fields = ["name", "database__name", "cron_expression"]
    readonly_fields = ["next_run_at", "last_run_at", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        # The form ran Schedule.clean() (cron and zone); the next run follows the saved rule.
        obj.refresh_next_run()
        super().save_model(request, obj, form, change)


@admin.register(ScheduleRun)
class ScheduleRunAdmin(admin.ModelAdmin):
    list_display = ["schedule", "slot_at", "backup", "created_at"]
    search_fields = ["schedule__name"]
    date_hierarchy = "slot_at"
