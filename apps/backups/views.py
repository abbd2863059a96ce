"""Dashboard and backup actions: run now, live activity, verify, download, delete, restore."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, TemplateView

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.backups.attention import acknowledge
from apps.backups.context import activity_context, decorate
from apps.backups.dashboard import dashboard_context, live_context
from apps.backups.filters import BackupListFilter, select_options
from apps.backups.models import Backup, Restore
from apps.backups.services import (
    NO_DESTINATION,
    BackupBusy,
    NotAvailable,
    delete_backup,
    open_copy_for_download,
    queue_manual_backup,
    request_restore,
    request_restore_as_new,
    request_verification,
)
from apps.common.filters import parse_id
from apps.common.paging import CappedPaginator
from apps.common.ui import ScopedObjectMixin, operable_group_ids, require_role
from apps.databases.models import Database
from apps.engines import get_engine


def _back_to(backup: Backup) -> str:
    return reverse("databases:detail", args=[backup.database_id])


def _next_or(request, default: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    # Only paths on this site (no scheme, no //host) may be redirect targets.
    if nxt.startswith("/") and not nxt.startswith("//"):
        return nxt
    return default


# --- pages -------------------------------------------------------------------------


class DashboardView(LoginRequiredMixin, TemplateView):
    template_name = "backups/dashboard.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **dashboard_context(self.request.user)}


class DashboardLiveView(LoginRequiredMixin, View):
    """GET: the dashboard's numbers as a fragment, which the page re-reads every 30 s."""

    def get(self, request):
        response = render(request, "includes/dashboard_live.html", live_context(request.user))
        response["Cache-Control"] = "no-store"
        return response


class BackupListView(LoginRequiredMixin, View):
    """GET: every backup the user can see, newest first, filtered, 50 a page.

    Invalid filters (another group's id, a bad date) answer 400 with the form's errors and no rows.
    """

    PER_PAGE = 50
    # The paginator counts at most this many rows (20 pages); older ones are reached with the
    # date filter. A COUNT(*) over 100 000 backups on every page view is what it avoids
    # (bench_catalogue: a cap of 10 000 cost ~60 ms a view, 1 000 a few).
    COUNT_CAP = 1_000

    def get(self, request):
        queryset = (
            Backup.objects.visible_to(request.user)
            .select_related("database", "database__group")
            .prefetch_related("copies")
            .order_by("-created_at", "-id")
        )
        filters = BackupListFilter(request.GET, queryset=queryset, request=request)
        context: dict = {"filters": filters, "page": None, "backups": [], "paginator": None}
        status = 200
        if filters.is_valid():
            paginator = CappedPaginator(filters.qs, self.PER_PAGE, cap=self.COUNT_CAP)
            page = paginator.get_page(request.GET.get("page"))
            context.update(page=page, paginator=paginator, backups=[decorate(b) for b in page.object_list])
        else:
            status = 400
        context["filtered"] = any(request.GET.get(name) for name in filters.filters)
        context["options"] = select_options(filters)
        return render(request, "backups/backup_list.html", context, status=status)


class BackupScopedMixin(ScopedObjectMixin):
    model = Backup
    context_object_name = "backup"

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


class DatabaseActivityView(LoginRequiredMixin, View):
    """GET: the backups/restores fragment of one database, polled by the page while jobs run."""

    def get(self, request, database_id):
        database = get_object_or_404(Database.objects.visible_to(request.user), pk=database_id)
        flags = require_role(request.user, database.group_id, Role.VIEWER)
        response = render(request, "includes/backup_activity.html", activity_context(database, flags))
        response["Cache-Control"] = "no-store"
        return response


# --- actions (POST) -----------------------------------------------------------------


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
