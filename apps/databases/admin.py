from django import forms
from django.contrib import admin

from apps.databases.models import Database


class DatabaseAdminForm(forms.ModelForm):
    """The password is write-only here too: blank keeps the stored one."""

    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the stored password.",
    )

    class Meta:
        model = Database
        fields = [
            "group",
            "name",
            "engine",
            "host",
            "port",
            "database_name",
            "username",
            "options",
            "compression",
            "timeout_seconds",
            "encryption_key",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored_password = self.instance.password

    def save(self, commit=True):
        obj = super().save(commit=False)
        # The admin puts declared fields into the model form, so a blank
        # entry would overwrite the secret: put the stored one back.
        obj.password = self.cleaned_data.get("password") or self._stored_password
        if commit:
            obj.save()
        return obj


@admin.register(Database)
class DatabaseAdmin(admin.ModelAdmin):
    form = DatabaseAdminForm
    list_display = ["name", "group", "engine", "host", "port", "database_name", "compression", "updated_at"]
    list_filter = ["engine", "group", "compression"]
    search_fields = ["name", "host", "database_name", "username"]
    readonly_fields = ["created_at", "updated_at"]
