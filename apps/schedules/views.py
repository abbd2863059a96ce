"""Schedules: list, create/edit with a live preview of the next runs, pause/resume, delete."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import CreateView, DeleteView, ListView, UpdateView

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.common.filters import parse_id
from apps.common.ui import RANK, ScopedObjectMixin, require_role
from apps.databases.models import Database
from apps.schedules import cron
from apps.schedules.context import describe_all, retention_preview, with_last_result
from apps.schedules.forms import ScheduleForm, rule_expression
from apps.schedules.models import Schedule

PREVIEW_COUNT = 5

log = logging.getLogger(__name__)


def safe_next(request) -> str:
    """The `next` the page came with (POST, else GET) when it stays on this site, else ""."""
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, {request.get_host()}, request.is_secure()):
        return nxt
    return ""


class ScheduleScopedMixin(ScopedObjectMixin):
    model = Schedule
    required_role = Role.OWNER
    context_object_name: str | None = "schedule"

    def scoped_queryset(self):
        return Schedule.objects.visible_to(self.request.user).select_related("database", "database__group")

    def group_id_of(self, obj) -> int:
        return obj.database.group_id

    def get_success_url(self):
        # From the schedules list, back to it (a `next` on this site); otherwise to the database page.
        return (
            safe_next(self.request)
            or reverse("databases:detail", args=[self.object.database_id]) + "#schedules"
        )


class ScheduleListView(LoginRequiredMixin, ListView):
    """Every schedule the caller sees, its rule in words, its last result, and what the caller may do."""

    template_name = "schedules/schedule_list.html"
    context_object_name = "schedules"

    def get_queryset(self):
        return with_last_result(
            Schedule.objects.visible_to(self.request.user)
            .select_related("database", "database__group")
            .order_by("database__name", "name")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        roles = dict(Membership.objects.filter(user=user).values_list("group_id", "role"))
        schedules = describe_all(context["schedules"])
        for s in schedules:
            rank = RANK[Role.OWNER] if user.is_superuser else RANK.get(roles.get(s.database.group_id, ""), 0)
            s.can_operate = rank >= RANK[Role.OPERATOR]
            s.can_manage = rank >= RANK[Role.OWNER]
        context["schedules"] = schedules
        return context


class _ScheduleFormMixin:
    # form_class and template_name are set on each view (Django's mixins type them per view).

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["database"] = self.database
        form = context["form"]
        context["preview"] = preview_for(
            form["interval_value"].value(),
            form["cron_expression"].value(),
            form["timezone"].value(),
            at=form["run_time"].value(),
            weekday=form["run_weekday"].value(),
            day=form["run_day"].value(),
        )
        context["presets"] = cron.PRESETS
        context["next"] = safe_next(self.request)
        return context

    def form_valid(self, form):
        form.instance.database = self.database
        response = super().form_valid(form)
        s = self.object
        when = f"next run {s.next_run_at:%Y-%m-%d %H:%M} UTC" if s.next_run_at else "paused"
        messages.success(
            self.request, f"Schedule “{s.name}” saved ({s.get_interval_value_display().lower()}, {when})."
        )
        return response

    def get_success_url(self):
        return safe_next(self.request) or reverse("databases:detail", args=[self.database.pk]) + "#schedules"


class ScheduleCreateView(LoginRequiredMixin, _ScheduleFormMixin, CreateView):
    model = Schedule
    form_class = ScheduleForm
    template_name = "schedules/schedule_form.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        raw = request.GET.get("database") or request.POST.get("database") or ""
        database_id = parse_id(raw)
        if database_id is None:
            messages.info(request, "Choose a database first, then add a schedule from its page.")
            return redirect("databases:list")
        self.database = get_object_or_404(Database.objects.visible_to(request.user), pk=database_id)
        require_role(request.user, self.database.group_id, Role.OWNER)
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {"interval_value": "daily", "timezone": "UTC", "enabled": True}


class ScheduleUpdateView(ScheduleScopedMixin, _ScheduleFormMixin, UpdateView):
    form_class = ScheduleForm
    template_name = "schedules/schedule_form.html"

    def get_object(self, queryset=None):
        obj = super().get_object(queryset)
        self.database = obj.database
        return obj

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # Of the saved schedule, not of the form's unsaved values.
        context["retention"] = retention_preview(Schedule.objects.get(pk=self.object.pk))
        return context


class ScheduleDeleteView(ScheduleScopedMixin, DeleteView):
    template_name = "schedules/schedule_confirm_delete.html"

    def form_valid(self, form):
        name, url = self.object.name, self.get_success_url()
        self.object.delete()
        messages.success(self.request, f"Schedule “{name}” deleted. Its backups stay.")
        return redirect(url)


class ScheduleToggleView(ScheduleScopedMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        self.object = s = self.get_object()
        s.enabled = not s.enabled
        s.refresh_next_run()
        s.save(update_fields=["enabled", "next_run_at", "updated_at"])
        if s.enabled:
            messages.success(
                request, f"Schedule “{s.name}” resumed; next run {s.next_run_at:%Y-%m-%d %H:%M} UTC."
            )
        else:
            messages.success(request, f"Schedule “{s.name}” paused; it will not run until resumed.")
        return redirect(self.get_success_url())


def preview_for(interval, custom, tz_name, *, at=None, weekday=None, day=None) -> dict:
    """The next runs for the given form values, in the schedule's zone and in UTC, or the error.

    With the rule in plain English ("At 02:30, only on Monday") as `description`.
    """
    if not interval:
        return {}
    tz_name = tz_name or "UTC"
    try:
        expr = rule_expression(interval, custom, at, weekday, day)
        runs = cron.next_runs(expr, tz_name, timezone.now(), PREVIEW_COUNT)
        zone = cron.validate_timezone(tz_name)
    except cron.CronError as exc:
        return {"error": str(exc)}
    return {
        "expression": expr,
        "description": cron.describe(expr),
        "timezone": tz_name,
        "runs": [(r.astimezone(zone), r) for r in runs],
    }


class SchedulePreviewView(LoginRequiredMixin, View):
    """GET ?interval_value=&cron_expression=&timezone= : a fragment with the next five runs."""

    def get(self, request):
        q = request.GET
        preview = preview_for(
            q.get("interval_value"),
            q.get("cron_expression"),
            q.get("timezone"),
            at=q.get("run_time"),
            weekday=q.get("run_weekday"),
            day=q.get("run_day"),
        )
        context = {"preview": preview}
        return render(request, "includes/schedule_preview.html", context)
