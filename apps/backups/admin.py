from django.contrib import admin

from apps.backups.models import Backup, BackupCopy, Restore


class BackupCopyInline(admin.TabularInline):
    model = BackupCopy
    extra = 0
    can_delete = False
    readonly_fields = [
        "destination",
        "destination_name",
        "location",
        "status",
        "size_bytes",
        "error",
        "verify_status",
        "verified_at",
    ]
    fields = readonly_fields


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "database",
        "trigger",
        "status",
        "created_at",
        "finished_at",
        "size_bytes",
        "file_name",
    ]
    list_filter = ["status", "trigger", "database__engine"]
    search_fields = ["file_name", "database__name", "checksum_sha256", "error"]
    date_hierarchy = "created_at"
    inlines = [BackupCopyInline]
    readonly_fields = [
        "status",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "worker_id",
        "size_bytes",
        "bytes_done",
        "checksum_sha256",
        "file_name",
        "compression",
        "error",
    ]


@admin.register(Restore)
class RestoreAdmin(admin.ModelAdmin):
    list_display = ["id", "backup", "target_database", "status", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["target_database__name", "error"]
    readonly_fields = [
        "status",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "worker_id",
        "bytes_done",
        "error",
    ]
