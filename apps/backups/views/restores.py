"""The restore form (into a registered database or a new one) and a restore's own page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import DetailView

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.backups.models import Backup, Restore
from apps.backups.services import (
    request_restore,
    request_restore_as_new,
)
from apps.backups.views.actions import BackupScopedMixin
from apps.common.filters import parse_id
from apps.common.ui import ScopedObjectMixin, operable_group_ids
from apps.databases.models import Database
from apps.engines import get_engine


def _owned_group_ids(user) -> list[int] | None:
    """Ids of the groups the user owns (where a new database may be registered); None: every group."""
    if user.is_superuser:
        return None
    return list(Membership.objects.filter(user=user, role=Role.OWNER).values_list("group_id", flat=True))


def target_label(db: Database) -> str:
    """How a restore target reads in a list: name, group, engine, where it is, which database."""
    engine = get_engine(db.engine)
    if not engine.uses_network:
        return f"{db.name} ({db.group.name}) — {engine.label}, file {db.database_name}"
    return (
        f"{db.name} ({db.group.name}) — {engine.label}, {db.host or '127.0.0.1'}:{db.port or engine.default_port}, "
        f"database {db.database_name}"
    )


class BackupRestoreView(BackupScopedMixin, DetailView):
    """GET: choose a target database of the same engine (no default) and type its name; POST: queue it.

    After a restore is queued the user lands on its own page (RestoreDetailView).
    """

    required_role = Role.OPERATOR
    template_name = "backups/backup_restore.html"

    def targets(self, backup):
        qs = (
            Database.objects.visible_to(self.request.user)
            .filter(engine=backup.database.engine)
            .select_related("group")
        )
        ids = operable_group_ids(self.request.user)
        if ids is not None:
            qs = qs.filter(group_id__in=ids)
        return qs.order_by("group__name", "name")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        engine = get_engine(self.object.database.engine)
        context["targets"] = [(db, target_label(db)) for db in self.targets(self.object)]
        context["restore_scope"] = engine.restore_scope
        context["clean_scope"] = engine.clean_scope
        context.setdefault("errors", {})
        context.setdefault("selected", None)  # no default target: the user chooses one
        context.setdefault("confirm", "")
        context.setdefault("clean", False)
        context["selected_is_source"] = context["selected"] == self.object.database_id
        owned = _owned_group_ids(self.request.user)
        context["servers"] = [
            (db, label) for db, label in context["targets"] if owned is None or db.group_id in owned
        ]
        context.setdefault("new_errors", {})
        context.setdefault("new", {})
        context["restorable"] = self.object.status in (Backup.Status.COMPLETED, Backup.Status.PARTIAL)
        return context

    def post(self, request, pk):
        if request.POST.get("mode") == "new":
            return self.post_new(request)
        self.object = backup = self.get_object()
        raw = request.POST.get("target", "")
        confirm = request.POST.get("confirm", "")
        clean = request.POST.get("scope") == "clean"
        target_id = parse_id(raw)
        target = self.targets(backup).filter(pk=target_id).first() if target_id else None
        try:
            restore = request_restore(
                backup,
                target,
                request.user,
                confirm,
                identity=request.POST.get("identity") or None,
                clean=clean,
            )
        except ValidationError as exc:
            errors = {("target" if k == "target_database_id" else k): v for k, v in exc.message_dict.items()}
            context = self.get_context_data(
                errors=errors, selected=target.pk if target else None, confirm=confirm, clean=clean
            )
            return self.render_to_response(context, status=400)
        messages.success(
            request,
            f"Restore #{restore.pk} of backup #{backup.pk} into {target.name} queued; the worker starts it "
            "within seconds and this page follows it.",
        )
        return redirect(reverse("backups:restore-detail", args=[restore.pk]))

    def post_new(self, request):
        """Restore as a new database on the server of a chosen one (registered in its group)."""
        self.object = backup = self.get_object()
        new = {
            "server": parse_id(request.POST.get("server", "")),
            "name": request.POST.get("name", ""),
            "database_name": request.POST.get("database_name", ""),
        }
        server = self.targets(backup).filter(pk=new["server"]).first() if new["server"] else None
        try:
            restore = request_restore_as_new(
                backup,
                server,
                request.user,
                name=new["name"],
                database_name=new["database_name"],
                identity=request.POST.get("identity") or None,
            )
        except ValidationError as exc:
            errors = {("server" if k == "server_database_id" else k): v for k, v in exc.message_dict.items()}
            context = self.get_context_data(new_errors=errors, new=new)
            return self.render_to_response(context, status=400)
        messages.success(
            request,
            f"Restore #{restore.pk} of backup #{backup.pk} into the new database {restore.target_database.name} "
            "queued; the worker creates it, then restores into it, and this page follows it.",
        )
        return redirect(reverse("backups:restore-detail", args=[restore.pk]))


class RestoreDetailView(ScopedObjectMixin, DetailView):
    """A restore's own page: status, timing, bytes, the tool's messages and the copies tried.

    While the restore runs, the status block is re-read from RestoreStatusView every 2 s.
    """

    model = Restore
    context_object_name = "restore"
    template_name = "backups/restore_detail.html"

    def scoped_queryset(self):
        return Restore.objects.visible_to(self.request.user).select_related(
            "target_database",
            "target_database__group",
            "backup",
            "backup__database",
            "requested_by",
            "source_copy",
        )

    def group_id_of(self, obj) -> int:
        return obj.target_database.group_id

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(restore_context(self.object))
        return context


class RestoreStatusView(RestoreDetailView):
    """GET: the status block of a restore's page alone (polled while it runs)."""

    template_name = "includes/restore_status.html"

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


def restore_context(restore: Restore) -> dict:
    engine = get_engine(restore.target_database.engine)
    backup = restore.backup
    total = backup.size_bytes if backup is not None else None
    percent = None
    if total and restore.status == Restore.Status.IN_PROGRESS:
        percent = min(100, int(restore.bytes_done * 100 / total))
    return {
        "target_label": target_label(restore.target_database),
        "scope": engine.clean_scope if restore.clean_restore else engine.restore_scope,
        "active": restore.status in Restore.ACTIVE,
        "total_bytes": total,
        "percent": percent,
        "into_source": backup is not None and backup.database_id == restore.target_database_id,
    }
