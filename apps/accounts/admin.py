from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.sites import AdminSite
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from apps.accounts import twofactor
from apps.accounts.forms import UsernameAdminMixin
from apps.accounts.models import ApiToken, GroupInvite, Membership
from apps.groups import services


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's sign-in: the password is checked through axes (locks), then the 2FA code if any."""

    otp_token = forms.CharField(
        label="Two-factor code",
        required=False,
        max_length=32,
        help_text="Only if two-factor sign-in is on for this account.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def clean(self):
        data = super().clean()
        user = self.get_user()
        if user is not None and twofactor.has_device(user):
            device = twofactor.verify(user, data.get("otp_token") or "")
            if device is None:
                raise ValidationError(
                    "This account uses two-factor sign-in: enter a current code (or a recovery code).",
                    code="otp",
                )
            user.otp_device = device  # django-otp marks the session verified on login
        return data


class BackupManagerAdminSite(AdminSite):
    """Django's admin site, asking for the second factor of accounts that have one."""

    login_form = AdminLoginForm
    login_template = "accounts/admin_login.html"

    def has_permission(self, request) -> bool:
        user = request.user
        if not super().has_permission(request):
            return False
        return not twofactor.has_device(user) or bool(getattr(user, "is_verified", lambda: False)())


# As django-otp documents for OTPAdminSite: the default site takes the class, so every
# ModelAdmin registered on admin.site (by any app) is behind it.
admin.site.__class__ = BackupManagerAdminSite


class UserAddForm(UsernameAdminMixin, AdminUserCreationForm):
    pass


class UserEditForm(UsernameAdminMixin, UserChangeForm):
    pass


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    """Django's user admin with the one username rule (NFKC, case-insensitive, one script)."""

    form = UserEditForm
    add_form = UserAddForm


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read and revoke only: a token's secret exists only when it is created."""

    list_display = ["name", "user", "scope", "prefix", "expires_at", "last_used_at"]
    list_filter = ["scope"]
    search_fields = ["name", "user__username"]
    readonly_fields = ["user", "name", "scope", "prefix", "created_at", "expires_at", "last_used_at"]
    exclude = ["key_hash"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(GroupInvite)
class GroupInviteAdmin(admin.ModelAdmin):
    list_display = ["group", "role", "created_by", "expires_at", "used_by", "used_at", "revoked_at"]
    readonly_fields = ["group", "role", "created_by", "created_at", "expires_at", "used_by", "used_at"]
    exclude = ["key_hash"]

    def has_add_permission(self, request) -> bool:
        return False


class MembershipAdminForm(forms.ModelForm):
    """Adds and role changes are checked by the group services before saving."""

    class Meta:
        model = Membership
        fields = ["user", "group", "role"]

    def clean(self):
        data = super().clean()
        if self.instance.pk and data.get("role") and data["role"] != Membership.Role.OWNER:
            try:
                services.ensure_other_owner(
                    Membership.objects.select_related("user").get(pk=self.instance.pk)
                )
            except ValidationError as exc:
                self.add_error("role", exc.message_dict.get("role", exc.messages))
        return data


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Every change goes through apps.groups.services, like the pages and the API."""

    form = MembershipAdminForm
    list_display = ["user", "group", "role", "created_at"]
    list_filter = ["role", "group"]
    search_fields = ["user__username", "group__name"]
    autocomplete_fields = ["user", "group"]

    def get_readonly_fields(self, request, obj=None):
        # Moving a membership to another user or group would bypass the owner rule of the old group.
        return ["user", "group"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            services.change_role(obj, form.cleaned_data["role"])
        else:
            created = services.add_member(obj.group, obj.user.username, obj.role)
            obj.pk, obj.created_at = created.pk, created.created_at

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None:
            try:
                services.ensure_other_owner(obj)
            except ValidationError:
                return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.remove_member(obj.group, obj.user_id)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "group"):
            try:
                services.remove_member(membership.group, membership.user_id)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
