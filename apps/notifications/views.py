"""A group's notification channels in the pages: owners add, edit, test and delete them.

Members see the list on the group page (apps/groups/views.py); these views are the
owners' actions. Sending a test goes through delivery.send_test, like the API's action.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import CreateView, DeleteView, UpdateView

from apps.accounts.roles import Role
from apps.common.ui import ScopedObjectMixin, require_role
from apps.groups.models import Group
from apps.notifications.delivery import send_test
from apps.notifications.forms import ChannelForm
from apps.notifications.models import NotificationChannel


def channels_url(group_id: int) -> str:
    return reverse("groups:detail", args=[group_id]) + "#notifications"


def describe(channel: NotificationChannel) -> str:
    return f"{channel.get_kind_display().lower()} channel to {channel.target}"


class ChannelScopedMixin(ScopedObjectMixin):
    """A channel of one of the caller's groups (404 otherwise); owners only (403 for other members)."""

    model = NotificationChannel
    required_role = Role.OWNER
    context_object_name: str | None = "channel"

    def scoped_queryset(self):
        groups = Group.objects.visible_to(self.request.user)
        return NotificationChannel.objects.filter(group__in=groups).select_related("group")

    def group_id_of(self, obj) -> int:
        return obj.group_id

    def get_success_url(self):
        return channels_url(self.object.group_id)


class ChannelCreateView(LoginRequiredMixin, CreateView):
    """The group page's add form posts here; errors come back inline on a page of their own."""

    model = NotificationChannel
    form_class = ChannelForm
    template_name = "notifications/channel_form.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.group = get_object_or_404(Group.objects.visible_to(request.user), pk=kwargs["group_id"])
        require_role(request.user, self.group.pk, Role.OWNER)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "group": self.group}

    def form_valid(self, form):
        form.instance.group = self.group
        response = super().form_valid(form)
        messages.success(
            self.request,
            f"Notifications added: {describe(self.object)} for {', '.join(self.object.events)}.",
        )
        return response

    def get_success_url(self):
        return channels_url(self.group.pk)


class ChannelUpdateView(ChannelScopedMixin, UpdateView):
    form_class = ChannelForm
    template_name = "notifications/channel_form.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "group": self.object.group}

    def form_valid(self, form):
        response = super().form_valid(form)
        state = "" if self.object.enabled else " (disabled)"
        messages.success(self.request, f"Saved the {describe(self.object)}{state}.")
        return response


class ChannelDeleteView(ChannelScopedMixin, DeleteView):
    template_name = "notifications/channel_confirm_delete.html"

    def form_valid(self, form):
        what, url = describe(self.object), self.get_success_url()
        self.object.delete()
        messages.success(self.request, f"Deleted the {what}. Its delivery log stays.")
        return redirect(url)


class ChannelTestView(ChannelScopedMixin, View):
    """POST: send a test message now (no retry); the message says whether the channel accepted it."""

    http_method_names = ["post"]

    def post(self, request, pk):
        self.object = channel = self.get_object()
        result = send_test(channel)
        if result["ok"]:
            messages.success(request, result["message"] + ".")
        else:
            messages.error(request, f"The test message to {channel.target} failed: {result['message']}.")
        return redirect(self.get_success_url())
