"""A backup's page and what can be done to it: acknowledge, run now, verify, download, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView

from apps.accounts.roles import Role
from apps.backups.attention import acknowledge
from apps.backups.context import decorate
from apps.backups.models import Backup
from apps.backups.services import (
    NO_DESTINATION,
    BackupBusy,
    NotAvailable,
    delete_backup,
    open_copy_for_download,
    queue_manual_backup,
    request_verification,
)
from apps.common.filters import parse_id
from apps.common.ui import ScopedObjectMixin, require_role
from apps.databases.models import Database


def _back_to(backup: Backup) -> str:
    return reverse("databases:detail", args=[backup.database_id])


def _next_or(request, default: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    # Only paths on this site (no scheme, no //host) may be redirect targets.
    if nxt.startswith("/") and not nxt.startswith("//"):
        return nxt
    return default


class BackupScopedMixin(ScopedObjectMixin):
    model = Backup
    context_object_name: str | None = "backup"

    def scoped_queryset(self):
        return Backup.objects.visible_to(self.request.user).select_related("database", "database__group")

    def group_id_of(self, obj) -> int:
        return obj.database.group_id


class BackupDetailView(BackupScopedMixin, DetailView):
    template_name = "backups/backup_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        decorate(self.object)
        context["restores"] = self.object.restores.select_related("target_database").order_by("-created_at")[
            :10
        ]
        context["finished"] = self.object.status in Backup.TERMINAL
        return context


class BackupAcknowledgeView(BackupScopedMixin, View):
    """POST: record that the caller saw this failed, partial or damaged backup (operator role)."""

    http_method_names = ["post"]
    required_role = Role.OPERATOR

    def post(self, request, pk):
        backup = self.get_object()
        try:
            acknowledge(backup, request.user, request.POST.get("note", ""))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                f"Backup #{backup.pk} of {backup.database.name} acknowledged: it leaves “Needs attention” "
                "until another backup of it goes wrong.",
            )
        return redirect(_next_or(request, reverse("backups:dashboard")))


class BackupRunView(LoginRequiredMixin, View):
    """POST: queue a manual backup of a database; the worker picks it up within about a second."""

    http_method_names = ["post"]

    def post(self, request, database_id):
        database = get_object_or_404(Database.objects.visible_to(request.user), pk=database_id)
        require_role(request.user, database.group_id, Role.OPERATOR)
        try:
            backup, created = queue_manual_backup(database, request.user)
        except ValidationError:
            messages.error(request, NO_DESTINATION)
            return redirect(reverse("databases:detail", args=[database.pk]) + "#destinations")
        if not created:
            messages.info(
                request,
                f"Backup #{backup.pk} of {database.name} is already queued; its progress shows below.",
            )
            return redirect(_next_or(request, reverse("databases:detail", args=[database.pk])))
        enabled = database.destinations.filter(enabled=True).count()
        messages.success(
            request,
            f"Backup #{backup.pk} of {database.name} queued for {enabled} destination{'s' if enabled != 1 else ''}; "
            "its progress shows below.",
        )
        return redirect(_next_or(request, reverse("databases:detail", args=[database.pk])))


class BackupVerifyView(BackupScopedMixin, View):
    """POST: queue a verification of every saved copy; the worker reads them and the page shows the result."""

    http_method_names = ["post"]
    required_role = Role.OPERATOR

    def post(self, request, pk):
        backup = self.get_object()
        try:
            verification = request_verification(backup, request.user)
        except BackupBusy as exc:
            messages.error(request, str(exc) + ".")
            return redirect(_next_or(request, _back_to(backup)))
        messages.info(
            request,
            f"Verification of backup #{backup.pk} queued (#{verification.pk}): the worker re-reads every "
            "copy; the result shows under Verifications.",
        )
        return redirect(_next_or(request, _back_to(backup)))


class BackupDownloadView(BackupScopedMixin, View):
    """GET: stream the whole backup (first copy present) or one destination's copy (?destination=)."""

    required_role = Role.OPERATOR

    def get(self, request, pk):
        backup = self.get_object()
        raw = request.GET.get("destination")
        destination_id = None
        if raw:
            destination_id = parse_id(raw)
            if destination_id is None:
                raise Http404("No such destination")
        try:
            copy, fh, size = open_copy_for_download(backup, destination_id)
        except NotAvailable as exc:
            messages.error(request, f"Download of backup #{backup.pk} is not possible: {exc}.")
            return redirect(_back_to(backup))
        name = backup.file_name or (
            copy.location.rsplit("/", 1)[-1] if copy.location else f"backup-{backup.pk}"
        )
        response = FileResponse(
            fh, as_attachment=True, filename=name, content_type="application/octet-stream"
        )
        response["Content-Length"] = str(size)
        return response


class BackupDeleteView(BackupScopedMixin, DetailView):
    """GET: a confirmation saying exactly what goes (?files=0|1); POST: delete it."""

    required_role = Role.OWNER
    template_name = "backups/backup_confirm_delete.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["delete_files"] = self.request.GET.get("files") == "1"
        decorate(self.object)
        return context

    def post(self, request, pk):
        backup = self.get_object()
        delete_files = request.POST.get("delete_files") == "1"
        back = _back_to(backup)
        try:
            result = delete_backup(backup, delete_files)
        except BackupBusy as exc:
            messages.error(request, str(exc) + ".")
            return redirect(back)
        if result.deleted and delete_files:
            detail = "; ".join(r["message"] for r in result.results)
            messages.success(
                request, f"Backup #{pk} and its files deleted" + (f": {detail}." if detail else ".")
            )
        elif result.deleted:
            kept = [r["message"] for r in result.results]
            messages.success(
                request,
                f"Backup #{pk}'s record deleted; its files stay on disk"
                + (f" ({'; '.join(kept)})." if kept else "."),
            )
        else:
            failed = "; ".join(
                f"{r['destination_name']}: {r['message']}" for r in result.results if r["status"] == "failed"
            )
            messages.error(
                request, f"Backup #{pk} was kept because some files could not be deleted — {failed}."
            )
        return redirect(back)
