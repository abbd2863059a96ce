"""The admin is a door like the pages and the API: deleting a backup goes through the delete service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse

from apps.backups.models import Backup, BackupCopy, Restore, Verification
from apps.backups.services import BackupBusy, DeleteResult, delete_backup


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
    fields = tuple(readonly_fields)


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
    actions = ["delete_with_files"]

    def get_actions(self, request):
        # Django's bulk delete would drop the records and leave every file behind.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _delete(self, request, backup: Backup) -> bool:
        """Delete one backup and its files through the service; say what went wrong; True if gone."""
        try:
            result: DeleteResult = delete_backup(backup, delete_files=True)
        except BackupBusy as exc:
            self.message_user(request, f"{exc}.", messages.ERROR)
            return False
        if not result.deleted:
            failed = "; ".join(r["message"] for r in result.results if r["status"] == "failed")
            self.message_user(
                request,
                f"Backup #{backup.pk} stays on record: some files could not be deleted ({failed}).",
                messages.ERROR,
            )
        return result.deleted

    def delete_model(self, request, obj: Backup) -> None:
        request._bm_delete_refused = not self._delete(request, obj)  # type: ignore[attr-defined]

    def delete_queryset(self, request, queryset) -> None:
        for backup in queryset:
            self._delete(request, backup)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "_bm_delete_refused", False):
            return HttpResponseRedirect(reverse("admin:backups_backup_change", args=[obj_id]))
        return super().response_delete(request, obj_display, obj_id)

    @admin.action(description="Delete selected backups and their files at every destination")
    def delete_with_files(self, request, queryset) -> None:
        deleted = sum(self._delete(request, backup) for backup in queryset)
        if deleted:
            self.message_user(request, f"Deleted {deleted} backup(s) and their files.", messages.SUCCESS)


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


@admin.register(Verification)
class VerificationAdmin(admin.ModelAdmin):
    list_display = ["id", "backup", "status", "ok", "created_at", "finished_at"]
    list_filter = ["status", "ok"]
    readonly_fields = [
        "backup",
        "status",
        "ok",
        "results",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "worker_id",
        "bytes_done",
        "error",
    ]
