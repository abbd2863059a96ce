from django import forms
from django.contrib import admin

from apps.destinations.forms import SecretFieldsMixin, SecretTextarea, _secret_field
from apps.destinations.models import Destination


class DestinationAdminForm(SecretFieldsMixin):
    """Secrets are write-only here too: blank keeps the stored value; the model's rules apply."""

    secret_access_key = _secret_field("Secret access key")
    password = _secret_field("Password")
    private_key = _secret_field("Private key", textarea=True)
    clear_secret_access_key = forms.BooleanField(required=False, label="Remove the stored secret access key")
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")
    clear_private_key = forms.BooleanField(required=False, label="Remove the stored private key")

    class Meta:
        model = Destination
        fields = [
            "database",
            "name",
            "kind",
            "enabled",
            "path",
            "endpoint_url",
            "region",
            "bucket",
            "prefix",
            "access_key_id",
            "secret_access_key",
            "path_style",
            "lock_mode",
            "lock_days",
            "host",
            "port",
            "username",
            "password",
            "private_key",
            "host_key",
        ]
        widgets = {"private_key": SecretTextarea()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_secrets()

    def clean(self):
        data = super().clean()
        self._clean_secrets(data)
        return data


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    form = DestinationAdminForm
    list_display = ["name", "database", "kind", "where", "enabled", "created_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "path", "bucket", "host", "database__name"]
    fieldsets = [
        (None, {"fields": ["database", "name", "kind", "enabled"]}),
        ("Local folder", {"fields": ["path"]}),
        (
            "S3-compatible",
            {
                "fields": [
                    "endpoint_url",
                    "region",
                    "bucket",
                    "prefix",
                    "access_key_id",
                    "secret_access_key",
                    "clear_secret_access_key",
                    "path_style",
                    "lock_mode",
                    "lock_days",
                ]
            },
        ),
        (
            "SFTP",
            {
                "fields": [
                    "host",
                    "port",
                    "username",
                    "password",
                    "clear_password",
                    "private_key",
                    "clear_private_key",
                    "host_key",
                ],
                "description": "The folder on the server is the “path” above. Pin the host key the "
                "server presents (scan it from the destination page and confirm its fingerprint).",
            },
        ),
    ]
