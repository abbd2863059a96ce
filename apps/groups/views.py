"""Groups: list, detail with members, create/edit/delete, member management (owners)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views import View
from django.views.generic import CreateView, DeleteView, DetailView, ListView, UpdateView

from apps.accounts import invites
from apps.accounts.forms import InviteForm
from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.common.ui import ScopedObjectMixin, require_role
from apps.groups import services
from apps.groups.forms import GroupForm, MemberAddForm, MemberRoleForm
from apps.groups.models import Group
from apps.keys.forms import GenerateKeyForm, ImportKeyForm
from apps.notifications.context import channels_of
from apps.notifications.forms import ChannelForm


class GroupScopedMixin(ScopedObjectMixin):
    model = Group

    def scoped_queryset(self):
        return Group.objects.visible_to(self.request.user)

    def group_id_of(self, obj) -> int:
        return obj.pk


class GroupListView(LoginRequiredMixin, ListView):
    template_name = "groups/group_list.html"
    context_object_name = "groups"

    def get_queryset(self):
        user = self.request.user
        return (
            Group.objects.visible_to(user)
            .with_role(user)
            .annotate(
                database_count=Count("databases", distinct=True),
                member_count=Count("memberships", distinct=True),
            )
            .order_by("name")
        )


class GroupCreateView(LoginRequiredMixin, CreateView):
    model = Group
    form_class = GroupForm
    template_name = "groups/group_form.html"

    def form_valid(self, form):
        data = form.cleaned_data
        self.object = services.create_group(self.request.user, data["name"], data.get("description", ""))
        messages.success(self.request, f"Group “{self.object.name}” created. You are its owner.")
        return redirect(self.get_success_url())

    def get_success_url(self):
        return reverse("groups:detail", args=[self.object.pk])


class GroupDetailView(GroupScopedMixin, DetailView):
    template_name = "groups/group_detail.html"
    context_object_name = "group"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        group = self.object
        context["memberships"] = group.memberships.select_related("user").order_by("user__username")
        context["databases"] = group.databases.order_by("name")
        context["roles"] = Membership.Role.choices
        context["channels"] = channels_of(group, reveal=context["can_manage"])
        context["keys"] = group.encryption_keys.prefetch_related("databases").order_by("name")
        if context["can_manage"]:
            context["member_form"] = getattr(self, "member_form", None) or MemberAddForm()
            context["channel_form"] = ChannelForm()
            context["generate_key_form"] = GenerateKeyForm()
            context["import_key_form"] = ImportKeyForm()
            context["invites"] = invites.open_invites(group).select_related("created_by")
            context["invite_form"] = InviteForm()
        return context


class GroupUpdateView(GroupScopedMixin, UpdateView):
    form_class = GroupForm
    required_role = Role.OWNER
    template_name = "groups/group_form.html"
    context_object_name = "group"

    def form_valid(self, form):
        messages.success(self.request, f"Group “{form.instance.name}” saved.")
        return super().form_valid(form)

    def get_success_url(self):
        return reverse("groups:detail", args=[self.object.pk])


class GroupDeleteView(GroupScopedMixin, DeleteView):
    required_role = Role.OWNER
    template_name = "groups/group_confirm_delete.html"
    context_object_name = "group"
    success_url = reverse_lazy("groups:list")

    def form_valid(self, form):
        name = self.object.name
        response = super().form_valid(form)
        messages.success(self.request, f"Group “{name}” and its databases' records were deleted.")
        return response


class _MemberActionView(LoginRequiredMixin, View):
    """POST-only member management; only owners of the group get through."""

    http_method_names = ["post"]

    def get_group(self) -> Group:
        group = get_object_or_404(Group.objects.visible_to(self.request.user), pk=self.kwargs["pk"])
        require_role(self.request.user, group.pk, Role.OWNER)
        return group

    def back(self, group):
        return redirect(reverse("groups:detail", args=[group.pk]) + "#members")


def _report_errors(request, exc: ValidationError) -> None:
    for error in exc.messages:
        messages.error(request, error)


class MembershipCreateView(_MemberActionView):
    def post(self, request, pk):
        group = self.get_group()
        form = MemberAddForm(request.POST)
        if not form.is_valid():
            return self.form_again(request, group, form)
        try:
            membership = services.add_member(group, form.cleaned_data["username"], form.cleaned_data["role"])
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_again(request, group, form)
        messages.success(
            request,
            f"{membership.user.username} added to “{group.name}” as {membership.get_role_display().lower()}.",
        )
        return self.back(group)

    def form_again(self, request, group, form):
        """The group page again, with what was typed and the errors beside the fields."""
        page = GroupDetailView(member_form=form)
        page.setup(request, pk=group.pk)
        return page.get(request, pk=group.pk)


class MembershipUpdateView(_MemberActionView):
    def post(self, request, pk, membership_id):
        group = self.get_group()
        membership = get_object_or_404(
            Membership.objects.select_related("user", "group"), pk=membership_id, group=group
        )
        form = MemberRoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a role: viewer, operator or owner.")
            return self.back(group)
        try:
            membership = services.change_role(membership, form.cleaned_data["role"])
        except ValidationError as exc:
            _report_errors(request, exc)
        else:
            messages.success(
                request, f"{membership.user.username} is now {membership.get_role_display().lower()}."
            )
        return self.back(group)


class MembershipDeleteView(_MemberActionView):
    """GET: a page asking to confirm the removal; POST: remove."""

    http_method_names = ["get", "post"]

    def get(self, request, pk, membership_id):
        group = self.get_group()
        membership = get_object_or_404(
            Membership.objects.select_related("user"), pk=membership_id, group=group
        )
        context = {"group": group, "membership": membership, "is_self": membership.user_id == request.user.pk}
        return render(request, "groups/member_confirm_remove.html", context)

    def post(self, request, pk, membership_id):
        group = self.get_group()
        membership = get_object_or_404(
            Membership.objects.select_related("user"), pk=membership_id, group=group
        )
        try:
            services.remove_member(group, membership.user_id)
        except ValidationError as exc:
            _report_errors(request, exc)
        except Membership.DoesNotExist:
            messages.error(request, f"{membership.user.username} is no longer a member of “{group.name}”.")
        else:
            messages.success(request, f"{membership.user.username} removed from “{group.name}”.")
        return self.back(group)
