"""Sign-in and sign-up forms."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from apps.accounts import invites, throttling, tokens, usernames
from apps.accounts.models import ApiToken, Membership
from apps.accounts.services import register_user


class SignInForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "That username and password do not match an account. Check both and try again.",
        "inactive": "This account is disabled.",
    }

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            # django-axes counts failures per (username, address), as for the API and the admin.
            try:
                self.user_cache = throttling.authenticate_checked(
                    self.request, username=username, password=password
                )
            except throttling.LoginLocked as exc:
                raise ValidationError(exc.message, code="throttled") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class RegisterForm(forms.Form):
    username = forms.CharField(
        max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    email = forms.EmailField(
        required=False, help_text="Optional.", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not only digits, not a common password.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return data

    def create(self):
        return register_user(
            self.cleaned_data["username"], self.cleaned_data["password1"], self.cleaned_data.get("email", "")
        )

    def save(self):
        """Create the user through register_user; its errors land on the matching fields."""
        try:
            return self.create()
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    self.add_error("password1" if field == "password" else field, errors)
            else:
                self.add_error(None, exc.messages)
            return None


class InviteRegisterForm(RegisterForm):
    """Sign-up through an invite link: allowed while sign-up is closed; joins the group too."""

    def __init__(self, *args, invite_token: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.invite_token = invite_token

    def create(self):
        return invites.register_with_invite(
            self.invite_token,
            self.cleaned_data["username"],
            self.cleaned_data["password1"],
            self.cleaned_data.get("email", ""),
        )


class OtpForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"}
        ),
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=ApiToken.NAME_MAX, help_text="What uses it, e.g. “nightly CI”.")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        help_text="Never more than your own role in each group.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)", min_value=1, max_value=tokens.MAX_TOKEN_DAYS, initial=90
    )


class InviteForm(forms.Form):
    prefix = "invite"  # the group page also has the add-member form's "role"
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)
    expires_in_days = forms.IntegerField(label="Expires in (days)", min_value=1, max_value=30, initial=7)


class UsernameAdminMixin:
    """The admin's user forms use the one username rule (NFKC, case, scripts)."""

    def clean_username(self):
        value = self.cleaned_data.get("username")
        pk = self.instance.pk if getattr(self, "instance", None) is not None else None
        return usernames.clean_username(value, exclude_pk=pk)
