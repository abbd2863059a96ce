"""Sign in, sign out and register (the HTML side; the API has its own endpoints)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.views.generic import FormView

from apps.accounts.forms import RegisterForm, SignInForm
from apps.accounts.services import RegistrationClosed, registration_open


class SignInView(LoginView):
    template_name = "accounts/login.html"
    form_class = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["registration_open"] = registration_open()
        return context


class SignOutView(LogoutView):
    """POST only (Django's LogoutView refuses GET), so a link cannot sign anyone out."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are signed out.")
        return response


class RegisterView(FormView):
    template_name = "accounts/register.html"
    form_class = RegisterForm
    success_url = reverse_lazy("backups:dashboard")

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("backups:dashboard")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["registration_open"] = registration_open()
        return context

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if not registration_open():
            response.status_code = 403  # the page explains; the status says it to machines
        return response

    def post(self, request, *args, **kwargs):
        # register_user refuses too (RegistrationClosed); asking first answers 403 even for a bad form.
        if not registration_open():
            return self._closed()
        try:
            return super().post(request, *args, **kwargs)
        except RegistrationClosed:
            return self._closed()

    def _closed(self):
        # The page says sign-up is closed (registration_open is False), with no form.
        return self.render_to_response(self.get_context_data(), status=403)

    def form_valid(self, form):
        user = form.save()
        if user is None:
            return self.form_invalid(form)
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        if user.is_superuser:
            messages.success(
                self.request,
                f"Welcome, {user.username}. As the first user you are the administrator. "
                "Create a group to start adding databases.",
            )
        else:
            messages.success(
                self.request, f"Welcome, {user.username}. Create a group or ask to be added to one."
            )
        return super().form_valid(form)
