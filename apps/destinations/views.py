"""Destinations of a database: add / edit / enable / delete, and the folder picker fragments."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import CreateView, DeleteView, UpdateView
from django.views.generic.edit import ModelFormMixin, ProcessFormView

from apps.accounts.roles import Role
from apps.common.ui import ScopedObjectMixin, require_role
from apps.databases.models import Database
from apps.destinations import services
from apps.destinations.forms import DestinationForm
from apps.destinations.models import Destination
from apps.destinations.paths import allowed_roots, browse, validate_local_path
from apps.destinations.storage import StorageError

SECRET_INPUTS = ("secret_access_key", "password", "private_key")


class DestinationScopedMixin(ScopedObjectMixin):
    model = Destination
    required_role = Role.OWNER
    context_object_name: str | None = "destination"

    def scoped_queryset(self):
        visible = Database.objects.visible_to(self.request.user)
        return Destination.objects.filter(database__in=visible).select_related("database")

    def group_id_of(self, obj) -> int:
        return obj.database.group_id

    def get_success_url(self):
        return reverse("databases:detail", args=[self.object.database_id]) + "#destinations"


def _roots_context(database) -> dict:
    return {"allowed_roots": allowed_roots(database.group_id)}


class HostKeyScanMixin(ModelFormMixin, ProcessFormView):
    """The "Scan host key" button: ask the server for its key and show the form again with it filled in.

    Nothing is saved: the owner compares the fingerprint and ticks the
    confirmation before the key is pinned. Typed secrets are not sent back.
    """

    def post(self, request, *args, **kwargs):
        if "scan_host_key" not in request.POST:
            return super().post(request, *args, **kwargs)
        self.object = self.get_object() if getattr(self, "pk_url_kwarg", None) in kwargs else None
        data = request.POST
        host = (data.get("host") or "").strip()
        try:
            port = int(data.get("port") or 22)
        except ValueError:
            port = -1
        context = {"scan_where": f"{host}:{port}"}
        initial = {k: data.get(k) for k in data if k not in SECRET_INPUTS and k != "csrfmiddlewaretoken"}
        initial.pop("confirm_host_key", None)
        try:
            scan = services.scan_host_key(host, port)
        except ValidationError as exc:
            context["scan_error"] = " ".join(m for ms in exc.message_dict.values() for m in ms)
        except StorageError as exc:
            context["scan_error"] = str(exc)
        else:
            context["scan"] = scan
            initial["host_key"] = scan["host_key"]
        form = self.get_form_class()(initial=initial, **self._unbound_form_kwargs())
        return self.render_to_response(self.get_context_data(form=form, **context))

    def _unbound_form_kwargs(self) -> dict:
        kwargs = {"database": self.get_form_kwargs()["database"]}
        if self.object is not None:
            kwargs["instance"] = self.object
        return kwargs


class DestinationCreateView(LoginRequiredMixin, HostKeyScanMixin, CreateView):
    model = Destination
    form_class = DestinationForm
    template_name = "destinations/destination_form.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.database = get_object_or_404(Database.objects.visible_to(request.user), pk=kwargs["database_id"])
        require_role(request.user, self.database.group_id, Role.OWNER)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "database": self.database}

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "database": self.database,
            **_roots_context(self.database),
        }

    def form_valid(self, form):
        try:
            response = super().form_valid(form)
        except OSError as exc:
            form.add_error("path", f"The folder could not be created: {exc.strerror}.")
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Destination “{self.object.name}” added: backups will be written to {self.object.where}.",
        )
        return response

    def get_success_url(self):
        return reverse("databases:detail", args=[self.database.pk]) + "#destinations"


class DestinationUpdateView(DestinationScopedMixin, HostKeyScanMixin, UpdateView):
    form_class = DestinationForm
    template_name = "destinations/destination_form.html"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "database": self.object.database}

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "database": self.object.database,
            **_roots_context(self.object.database),
        }

    def form_valid(self, form):
        try:
            response = super().form_valid(form)
        except OSError as exc:
            form.add_error("path", f"The folder could not be created: {exc.strerror}.")
            return self.form_invalid(form)
        messages.success(self.request, f"Destination “{self.object.name}” saved.")
        return response


class DestinationTestView(DestinationScopedMixin, View):
    """POST: write, read back and delete a probe at the saved destination; say how it went."""

    http_method_names = ["post"]

    def post(self, request, pk):
        self.object = self.get_object()
        result = services.test_destination(self.object)
        if result.ok:
            messages.success(request, f"Test of “{self.object.name}” passed: {result.message}")
        else:
            messages.error(request, f"Test of “{self.object.name}” failed: {result.message}")
        return redirect(reverse("destinations:update", args=[self.object.pk]))


class DestinationDeleteView(DestinationScopedMixin, DeleteView):
    template_name = "destinations/destination_confirm_delete.html"

    def form_valid(self, form):
        name, url = self.object.name, self.get_success_url()
        self.object.delete()
        messages.success(
            self.request, f"Destination “{name}” deleted. Files already written there stay where they are."
        )
        return redirect(url)


class DestinationToggleView(DestinationScopedMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        self.object = self.get_object()
        self.object.enabled = not self.object.enabled
        self.object.save(update_fields=["enabled", "updated_at"])
        state = (
            "enabled: new backups are written there"
            if self.object.enabled
            else "disabled: new backups skip it"
        )
        messages.success(request, f"Destination “{self.object.name}” {state}.")
        return redirect(self.get_success_url())


class _PathPickerMixin(LoginRequiredMixin):
    """Owners of the database's group look at that group's backup folders, and only those."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.database = get_object_or_404(Database.objects.visible_to(request.user), pk=kwargs["database_id"])
        require_role(request.user, self.database.group_id, Role.OWNER)
        return super().dispatch(request, *args, **kwargs)


class PathBrowseView(_PathPickerMixin, View):
    """GET ?path= : a fragment listing the sub-folders (no path: the allowed roots)."""

    def get(self, request, database_id):
        listing = browse(request.GET.get("path") or None, self.database.group_id)
        return render(request, "includes/path_browser.html", listing)


class PathCheckView(_PathPickerMixin, View):
    """GET ?path= : a fragment saying whether the folder is allowed, exists, is writable, and its free space."""

    def get(self, request, database_id):
        raw = request.GET.get("path", "")
        check = validate_local_path(raw, self.database.group_id) if raw.strip() else None
        return render(request, "includes/path_check.html", {"check": check})
