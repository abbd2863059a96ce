"""Sign in, sign out and register (the HTML side; the API has its own endpoints)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views import View
from django.views.generic import FormView
from django_otp import login as otp_login

from apps.accounts import invites, tokens, twofactor
from apps.accounts.forms import (
    ApiTokenForm,
    InviteForm,
    InviteRegisterForm,
    OtpForm,
    RegisterForm,
    SignInForm,
)
from apps.accounts.models import ApiToken
from apps.accounts.services import RegistrationClosed, registration_open
from apps.groups.models import Group

_BACKEND = "django.contrib.auth.backends.ModelBackend"
# The user who gave the right password and still owes a two-factor code (session key).
_PENDING = "bm_2fa_pending"


def _safe_next(request, url: str | None) -> str:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=False):
        return url
    return reverse("backups:dashboard")


class SignInView(LoginView):
    """Password first; an account with two-factor sign-in then owes a code (SignInCodeView)."""

    template_name = "accounts/login.html"
    form_class = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["registration_open"] = registration_open()
        return context

    def form_valid(self, form):
        user = form.get_user()
        if twofactor.has_device(user):
            self.request.session.cycle_key()
            self.request.session[_PENDING] = {"user": user.pk, "next": self.get_success_url()}
            return redirect("accounts:login-code")
        return super().form_valid(form)


class SignInCodeView(FormView):
    """The second step of signing in: a code from the app or a recovery code."""

    template_name = "accounts/login_code.html"
    form_class = OtpForm

    def dispatch(self, request, *args, **kwargs):
        pending = request.session.get(_PENDING) or {}
        self.pending_user = get_user_model().objects.filter(pk=pending.get("user"), is_active=True).first()
        if self.pending_user is None:
            return redirect("accounts:login")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        device = twofactor.verify(self.pending_user, form.cleaned_data["code"])
        if device is None:
            form.add_error(
                "code", "That code is wrong or was already used. Wait for a new code and try again."
            )
            return self.form_invalid(form)
        next_url = _safe_next(self.request, self.request.session.pop(_PENDING, {}).get("next"))
        self.pending_user.otp_device = device  # django-otp marks the session verified on login
        login(self.request, self.pending_user, backend=_BACKEND)
        if device.__class__.__name__ == "StaticDevice":
            left = twofactor.recovery_codes_left(self.pending_user)
            messages.warning(
                self.request, f"You used a recovery code; {left} left. Make new ones on the two-factor page."
            )
        return redirect(next_url)


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
        login(self.request, user, backend=_BACKEND)
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


class InviteView(View):
    """An invite link: a signed-in user joins; a new person creates an account and joins."""

    def get_invite(self, token):
        invite = invites.find_invite(token)
        if invite is None:
            raise Http404("This invite link is not valid.")
        return invite

    def render_page(self, request, invite, form=None, status=200):
        reason = None
        try:
            invites.check_usable(invite)
        except ValidationError as exc:
            reason = " ".join(exc.messages)
        if form is None and not request.user.is_authenticated:
            form = InviteRegisterForm(invite_token="")
        context = {"invite": invite, "reason": reason, "form": form}
        return render(request, "accounts/invite.html", context, status=status if not reason else 410)

    def get(self, request, token):
        return self.render_page(request, self.get_invite(token))

    def post(self, request, token):
        invite = self.get_invite(token)
        if request.user.is_authenticated:
            try:
                invites.accept_invite(token, request.user)
            except ValidationError as exc:
                for error in exc.messages:
                    messages.error(request, error)
                return redirect("accounts:invite", token=token)
            messages.success(
                request, f"You joined {invite.group.name} as {invite.get_role_display().lower()}."
            )
            return redirect("groups:detail", pk=invite.group_id)
        form = InviteRegisterForm(request.POST, invite_token=token)
        if not form.is_valid():
            return self.render_page(request, invite, form, status=400)
        user = form.save()
        if user is None:
            return self.render_page(request, invite, form, status=400)
        login(request, user, backend=_BACKEND)
        messages.success(request, f"Welcome, {user.username}. You joined {invite.group.name}.")
        return redirect("groups:detail", pk=invite.group_id)


class _GroupOwnerView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def get_group(self, pk) -> Group:
        group = get_object_or_404(Group.objects.visible_to(self.request.user), pk=pk)
        invites.check_owner(group, self.request.user)
        return group


class InviteCreateView(_GroupOwnerView):
    def post(self, request, pk):
        group = self.get_group(pk)
        form = InviteForm(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return redirect(reverse("groups:detail", args=[pk]) + "#invites")
        invite, raw = invites.create_invite(
            group, request.user, form.cleaned_data["role"], form.cleaned_data["expires_in_days"]
        )
        url = request.build_absolute_uri(reverse("accounts:invite", args=[raw]))
        return render(request, "accounts/invite_created.html", {"group": group, "invite": invite, "url": url})


class InviteRevokeView(_GroupOwnerView):
    def post(self, request, pk, invite_id):
        group = self.get_group(pk)
        try:
            invites.revoke_invite(group, request.user, invite_id)
        except invites.GroupInvite.DoesNotExist:
            raise Http404("No such invite.") from None
        messages.success(request, "The invite link was revoked.")
        return redirect(reverse("groups:detail", args=[pk]) + "#invites")


class ApiTokensView(LoginRequiredMixin, View):
    """Personal API tokens: list, create (the token is shown once), revoke."""

    def page(self, request, form=None, created=None, status=200):
        context = {
            "tokens": ApiToken.objects.filter(user=request.user),
            "form": form or ApiTokenForm(),
            "created": created,
        }
        return render(request, "accounts/tokens.html", context, status=status)

    def get(self, request):
        return self.page(request)

    def post(self, request):
        form = ApiTokenForm(request.POST)
        if not form.is_valid():
            return self.page(request, form, status=400)
        token, raw = tokens.create_api_token(
            request.user,
            form.cleaned_data["name"],
            form.cleaned_data["scope"],
            form.cleaned_data["expires_in_days"],
        )
        return self.page(request, created={"token": token, "raw": raw})


class ApiTokenRevokeView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request, token_id):
        if not tokens.revoke_api_token(request.user, token_id):
            raise Http404("You have no such token.")
        messages.success(request, "The token was revoked.")
        return redirect("accounts:tokens")


class TwoFactorView(LoginRequiredMixin, View):
    """Turn two-factor sign-in on (QR code + secret, confirmed by a code), new recovery codes, off."""

    def page(self, request, form=None, codes=None, status=200):
        device = None if twofactor.has_device(request.user) else twofactor.pending_device(request.user)
        if device is None and not twofactor.has_device(request.user):
            device = twofactor.start_setup(request.user)
        context = {
            "enabled": twofactor.has_device(request.user),
            "required": twofactor.required(),
            "codes": codes,
            "codes_left": twofactor.recovery_codes_left(request.user),
            "form": form or OtpForm(),
        }
        if device is not None:
            context["qr_svg"] = mark_safe(twofactor.qr_svg(device))  # noqa: S308 - made here from our own URL
            context["secret"] = twofactor.secret_text(device)
        return render(request, "accounts/two_factor.html", context, status=status)

    def get(self, request):
        return self.page(request)

    def post(self, request):
        action = request.POST.get("action")
        user = request.user
        if action == "confirm":
            form = OtpForm(request.POST)
            device = twofactor.pending_device(user)
            if not form.is_valid() or device is None:
                return self.page(request, form, status=400)
            codes = twofactor.confirm_setup(user, device, form.cleaned_data["code"])
            if codes is None:
                form.add_error(
                    "code", "That code does not match. Check the time on your phone and try again."
                )
                return self.page(request, form, status=400)
            user.otp_device = device
            otp_login(request, device)  # this session counts as verified from now on
            messages.success(
                request, "Two-factor sign-in is on. Keep the recovery codes below somewhere safe."
            )
            return self.page(request, codes=codes)
        if not twofactor.has_device(user):
            return redirect("accounts:two-factor")
        # Changing an enabled second factor asks for a current code (not only a session).
        form = OtpForm(request.POST)
        if not form.is_valid() or twofactor.verify(user, form.cleaned_data["code"]) is None:
            messages.error(request, "Enter a current code from your app (or a recovery code) to change this.")
            return redirect("accounts:two-factor")
        if action == "codes":
            return self.page(request, codes=twofactor.new_recovery_codes(user))
        if action == "disable":
            if twofactor.required():
                messages.error(
                    request, "Two-factor sign-in is required on this server; it cannot be turned off."
                )
            else:
                twofactor.disable(user)
                messages.success(request, "Two-factor sign-in is off.")
            return redirect("accounts:two-factor")
        return redirect("accounts:two-factor")
