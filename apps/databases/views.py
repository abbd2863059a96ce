"""Databases: list by group, detail (destinations, schedules, backups), create/edit/delete, connection test."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views import View
from django.views.generic import CreateView, DeleteView, DetailView, ListView, UpdateView

from apps.accounts.roles import Role

# The backups table of the database page is the backups app's fragment (also polled alone).
from apps.backups import destination_health
from apps.backups.context import activity_context
from apps.backups.database_chart import database_chart
from apps.backups.models import Backup
from apps.common.filters import parse_id
from apps.common.ui import ScopedObjectMixin, managed_group_ids, require_role
from apps.databases import services
from apps.databases.forms import DatabaseForm
from apps.databases.models import Database
from apps.databases.throttles import OWNERS_ONLY, too_many_tests
from apps.destinations.forms import DestinationForm
from apps.destinations.paths import allowed_roots
from apps.engines import ENGINES
from apps.groups.models import Group
from apps.schedules.context import describe_all, retention_preview, with_last_result


class DatabaseScopedMixin(ScopedObjectMixin):
    model = Database

    def scoped_queryset(self):
        return Database.objects.visible_to(self.request.user).select_related("group")

    def group_id_of(self, obj) -> int:
        return obj.group_id


class DatabaseListView(LoginRequiredMixin, ListView):
    template_name = "databases/database_list.html"
    context_object_name = "databases"

    def get_queryset(self):
        user = self.request.user
        latest = Backup.objects.filter(database=OuterRef("pk")).order_by("-created_at", "-id")
        qs = (
            Database.objects.visible_to(user)
            .select_related("group")
            .annotate(
                last_status=Subquery(latest.values("status")[:1]),
                last_at=Subquery(latest.values("created_at")[:1]),
                destination_count=Count("destinations", distinct=True),
                schedule_count=Count("schedules", distinct=True),
            )
            .order_by("group__name", "name")
        )
        self.selected_group = None
        group_id = self.request.GET.get("group")
        if group_id:
            try:
                self.selected_group = Group.objects.visible_to(user).get(pk=int(group_id))
            except (ValueError, Group.DoesNotExist):
                raise Http404("No such group") from None
            qs = qs.filter(group=self.selected_group)
        return qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["groups"] = Group.objects.visible_to(self.request.user).order_by("name")
        context["selected_group"] = self.selected_group
        owned = managed_group_ids(self.request.user)
        # A database needs a group: not offered before one exists (a superuser owns every group).
        context["can_add"] = Group.objects.exists() if owned is None else bool(owned)
        return context


class _DatabaseFormMixin:
    # form_class and template_name are set on each view (Django's mixins type them per view).

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["engine_ports"] = {k: cls.default_port for k, cls in ENGINES.items()}
        return context

    def get_success_url(self):
        return reverse("databases:detail", args=[self.object.pk])


class DatabaseCreateView(LoginRequiredMixin, _DatabaseFormMixin, CreateView):
    model = Database
    form_class = DatabaseForm
    template_name = "databases/database_form.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            owned = managed_group_ids(request.user)
            no_group = not Group.objects.exists() if owned is None else not owned
            if no_group:
                messages.info(request, "Databases belong to a group you own. Create a group first.")
                return redirect("groups:create")
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        initial = super().get_initial()
        group_id = parse_id(self.request.GET.get("group", ""))
        if group_id:
            initial["group"] = group_id
        initial["engine"] = "postgresql"
        return initial

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(
            self.request,
            f"Database “{self.object.name}” added. Next: add a destination and a schedule below.",
        )
        return response


class DatabaseUpdateView(DatabaseScopedMixin, _DatabaseFormMixin, UpdateView):
    form_class = DatabaseForm
    template_name = "databases/database_form.html"
    required_role = Role.OWNER
    context_object_name = "database"

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, f"Database “{self.object.name}” saved.")
        return response


class DatabaseDeleteView(DatabaseScopedMixin, DeleteView):
    required_role = Role.OWNER
    template_name = "databases/database_confirm_delete.html"
    context_object_name = "database"
    success_url = reverse_lazy("databases:list")

    def form_valid(self, form):
        name = self.object.name
        response = super().form_valid(form)
        messages.success(
            self.request,
            f"Database “{name}” deleted with its destinations, schedules and backup records. "
            "Backup files already written stay on disk.",
        )
        return response


class DatabaseDetailView(DatabaseScopedMixin, DetailView):
    template_name = "databases/database_detail.html"
    context_object_name = "database"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        db = self.object
        # Each destination's last copy, last verify and free space: red when one of them failed.
        context["destinations"] = destination_health.health_of(
            destination_health.with_health(db.destinations.order_by("name"))
        )
        context["schedules"] = schedules = describe_all(with_last_result(db.schedules.order_by("name")))
        for schedule in schedules:
            schedule.retention = retention_preview(schedule)
            schedule.can_operate, schedule.can_manage = context["can_operate"], context["can_manage"]
        context.update(activity_context(db, context))
        context["chart"] = database_chart(db)
        if context["can_manage"]:
            context["destination_form"] = DestinationForm(database=db)
            context["allowed_roots"] = allowed_roots(db.group_id)
        return context


class DatabaseTestConnectionView(LoginRequiredMixin, View):
    """POST the form's fields; answer a fragment saying whether the connection works. Saves nothing."""

    http_method_names = ["post"]

    def post(self, request, pk=None):
        instance = None
        if pk is not None:
            instance = get_object_or_404(Database.objects.visible_to(request.user), pk=pk)
            require_role(request.user, instance.group_id, Role.OWNER)
        elif managed_group_ids(request.user) == []:
            raise PermissionDenied(OWNERS_ONLY)
        if wait := too_many_tests(request):
            return _throttled(request, wait)
        form = DatabaseForm(request.POST, instance=instance, user=request.user)
        form.is_valid()
        errors = form.connection_errors()
        if errors:
            return render(request, "includes/connection_result.html", {"errors": errors})
        result = _test(form.connection_info())
        return render(request, "includes/connection_result.html", {"result": result})


class DatabaseCheckView(DatabaseScopedMixin, DetailView):
    """POST: test the saved connection of a database (owners: it opens a connection from this server)."""

    http_method_names = ["post"]
    required_role = Role.OWNER

    def post(self, request, pk):
        database = self.get_object()
        if wait := too_many_tests(request):
            return _throttled(request, wait)
        result = _test(database.connection_info())
        return render(request, "includes/connection_result.html", {"result": result})


def _throttled(request, wait: int):
    errors = {"__all__": [f"Too many connection tests: try again in {wait} s."]}
    return render(request, "includes/connection_result.html", {"errors": errors}, status=429)


def _test(conn):
    return services.test_connection(conn).as_dict()
