"""The audit page: owners read their groups' entries (superusers all), filtered; nothing is editable."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import ListView

from apps.audit.filters import AuditEntryFilter
from apps.audit.models import AuditEntry
from apps.common.ui import managed_group_ids
from apps.groups.models import Group


class AuditEntryListView(LoginRequiredMixin, ListView):
    template_name = "audit/auditentry_list.html"
    context_object_name = "entries"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = AuditEntryFilter(
            self.request.GET or None, queryset=AuditEntry.objects.visible_to(self.request.user)
        )
        if self.filterset.is_bound and not self.filterset.is_valid():
            return AuditEntry.objects.none()
        return self.filterset.qs.order_by("-at", "-id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        owned = managed_group_ids(self.request.user)
        groups = Group.objects.all() if owned is None else Group.objects.filter(pk__in=owned)
        context["groups"] = groups.order_by("name")
        context["owns_nothing"] = owned is not None and not owned
        names = dict(groups.values_list("pk", "name"))
        for entry in context["entries"]:
            entry.group_name = names.get(entry.group_id, "")
        context["filter"] = self.filterset
        context["outcomes"] = AuditEntry.Outcome.choices
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query"] = query.urlencode()
        return context
