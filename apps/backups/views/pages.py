"""The dashboard (and its live fragment), the backups list and a database's activity fragment."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, render
from django.views import View
from django.views.generic import TemplateView

from apps.accounts.roles import Role
from apps.backups.context import activity_context, decorate
from apps.backups.dashboard import dashboard_context, live_context
from apps.backups.filters import BackupListFilter, select_options
from apps.backups.models import Backup
from apps.common.paging import CappedPaginator
from apps.common.ui import require_role
from apps.databases.models import Database


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


class DatabaseActivityView(LoginRequiredMixin, View):
    """GET: the backups/restores fragment of one database, polled by the page while jobs run."""

    def get(self, request, database_id):
        database = get_object_or_404(Database.objects.visible_to(request.user), pk=database_id)
        flags = require_role(request.user, database.group_id, Role.VIEWER)
        response = render(request, "includes/backup_activity.html", activity_context(database, flags))
        response["Cache-Control"] = "no-store"
        return response


# --- actions (POST) -----------------------------------------------------------------
