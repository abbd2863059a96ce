from django import forms
from django.contrib import admin

from apps.keys.models import GroupKey


class GroupKeyAdminForm(forms.ModelForm):
    """The secret key is write-only: blank keeps the stored one, and it is never shown."""

    identity = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        label="Secret key",
        help_text="AGE-SECRET-KEY-1… of this recipient, to keep it for in-app restores. "
        "Leave blank to keep what is stored.",
    )
    clear_identity = forms.BooleanField(required=False, label="Forget the stored secret key")

    class Meta:
        model = GroupKey
        fields = ["group", "name", "recipient", "identity"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored_identity = self.instance.identity

    def clean(self):
        data = super().clean()
        # Blank keeps the stored secret key; the model's clean() then checks it against the recipient.
        if data.get("clear_identity"):
            data["identity"] = ""
        elif not data.get("identity"):
            data["identity"] = self._stored_identity
        return data


@admin.register(GroupKey)
class GroupKeyAdmin(admin.ModelAdmin):
    form = GroupKeyAdminForm
    list_display = ["name", "group", "recipient", "has_identity", "created_at"]
    list_filter = ["group"]
    search_fields = ["name", "recipient", "group__name"]
    readonly_fields = ["created_at"]

    @admin.display(boolean=True, description="Secret key kept")
    def has_identity(self, obj) -> bool:
        return obj.has_identity
