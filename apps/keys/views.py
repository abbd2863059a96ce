"""A group's encryption keys in the pages: owners generate, import and delete them.

Members see the list on the group page (apps/groups/views.py). A generated secret key
is shown once, on the page the POST returns (never stored in the session or a message).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views import View
from django.views.generic import DeleteView

from apps.accounts.roles import Role
from apps.common.ui import ScopedObjectMixin, require_role
from apps.groups.models import Group
from apps.keys import services
from apps.keys.forms import GenerateKeyForm, ImportKeyForm
from apps.keys.models import GroupKey


def keys_url(group_id: int) -> str:
    return reverse("groups:detail", args=[group_id]) + "#keys"


def _add_errors(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class _KeyCreateView(LoginRequiredMixin, View):
    """POST-only: owners of the group; errors come back inline on a page of their own."""

    http_method_names = ["post"]
    form_class: type = GenerateKeyForm

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.group = get_object_or_404(Group.objects.visible_to(request.user), pk=kwargs["group_id"])
        require_role(request.user, self.group.pk, Role.OWNER)
        return super().dispatch(request, *args, **kwargs)

    def invalid(self, form):
        context = {"group": self.group, "form": form, "kind": self.kind}
        return render(self.request, "keys/key_form.html", context, status=400)


class KeyGenerateView(_KeyCreateView):
    kind = "generate"

    def post(self, request, group_id):
        form = GenerateKeyForm(request.POST)
        if not form.is_valid():
            return self.invalid(form)
        try:
            made = services.create_key(
                self.group, form.cleaned_data["name"], keep_identity=form.cleaned_data["keep_identity"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
            return self.invalid(form)
        response = render(
            request,
            "keys/key_created.html",
            {"group": self.group, "key": made.key, "identity": made.identity},
        )
        add_never_cache_headers(response)  # the secret key must not stay in any cache
        return response


class KeyImportView(_KeyCreateView):
    kind = "import"

    def post(self, request, group_id):
        form = ImportKeyForm(request.POST)
        if not form.is_valid():
            return self.invalid(form)
        try:
            made = services.create_key(
                self.group, form.cleaned_data["name"], recipient=form.cleaned_data["recipient"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
            return self.invalid(form)
        messages.success(request, f"Key “{made.key.name}” imported: backups can now be encrypted to it.")
        return redirect(keys_url(self.group.pk))


class KeyDeleteView(ScopedObjectMixin, DeleteView):
    """Owners only; refused with the databases' names while any database uses the key."""

    model = GroupKey
    required_role = Role.OWNER
    context_object_name = "key"
    template_name = "keys/key_confirm_delete.html"

    def scoped_queryset(self):
        groups = Group.objects.visible_to(self.request.user)
        return GroupKey.objects.filter(group__in=groups).select_related("group")

    def group_id_of(self, obj) -> int:
        return obj.group_id

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["databases"] = list(self.object.databases.order_by("name"))
        return context

    def form_valid(self, form):
        key, url = self.object, keys_url(self.object.group_id)
        try:
            services.delete_key(key)
        except services.KeyInUse as exc:
            messages.error(self.request, str(exc))
            return redirect(url)
        messages.success(self.request, f"Key “{key.name}” deleted.")
        return redirect(url)
