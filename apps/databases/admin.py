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

    def clean(self):
        # A typed password is entered before the model's clean(), which refuses to send a
        # stored one to a changed host, port, user or engine.
        data = super().clean()
        if data.get("password"):
            self.instance.enter_secret("password", data["password"])
        else:
            # The admin puts declared fields into the model form: out of cleaned_data, a blank
            # entry does not overwrite the stored password (construct_instance skips it).
            data.pop("password", None)
        return data


@admin.register(Database)
class DatabaseAdmin(admin.ModelAdmin):
    form = DatabaseAdminForm
    list_display = ["name", "group", "engine", "host", "port", "database_name", "compression", "updated_at"]
    list_filter = ["engine", "group", "compression"]
    search_fields = ["name", "host", "database_name", "username"]
    readonly_fields = ["created_at", "updated_at"]
