"""The destination form: its fields follow the kind (local folder, S3-compatible bucket, SFTP server).

Secrets are write-only: a blank secret field keeps the stored value, and the
model refuses to keep it when the place it would be sent to changed.
"""

from __future__ import annotations

from django import forms

from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.destinations.paths import validate_local_path
from apps.destinations.services import create_local_folder
from apps.destinations.storage.sftp_keys import HostKeyError, fingerprint, parse_host_key

LOCAL_FIELDS = ("path",)
S3_FIELDS = (
    "endpoint_url",
    "region",
    "bucket",
    "prefix",
    "access_key_id",
    "secret_access_key",
    "path_style",
    "lock_mode",
    "lock_days",
)
SFTP_FIELDS = ("host", "port", "username", "password", "private_key", "host_key", "remote_path")


class SecretTextarea(forms.Textarea):
    """A textarea that never renders its value back (for private keys)."""

    def format_value(self, value):
        return None


def _secret_field(label: str, textarea: bool = False) -> forms.CharField:
    widget = (
        SecretTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"})
        if textarea
        else forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
    )
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=widget,
        help_text="Stored encrypted; never shown again.",
    )


class SecretFieldsMixin(forms.ModelForm):
    """Write-only secrets for ModelForms of Destination (the HTML form and the admin).

    A blank secret keeps the stored value; a typed one is *entered* (the model
    then accepts it for a new endpoint, bucket or host); `clear_<name>` removes
    a stored one.
    """

    secret_names = ("secret_access_key", "password", "private_key")

    def _init_secrets(self) -> None:
        for name in self.secret_names:
            if name not in self.fields:
                continue
            if self.instance.pk and getattr(self.instance, name):
                self.fields[name].help_text = "A value is stored; leave empty to keep it."
            else:
                self.fields.pop(f"clear_{name}", None)

    def _clean_secrets(self, data: dict) -> None:
        for name in self.secret_names:
            if name not in self.fields:
                continue
            typed = data.get(name) or ""
            if data.get(f"clear_{name}"):
                self.instance.enter_secret(name, "")
                data[name] = ""
            elif typed:
                self.instance.enter_secret(name, typed)
            else:
                data[name] = getattr(self.instance, name) if self.instance.pk else ""


class DestinationForm(SecretFieldsMixin):
    secret_access_key = _secret_field("Secret access key")
    password = _secret_field("Password")
    private_key = _secret_field("Private key", textarea=True)
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")
    clear_private_key = forms.BooleanField(required=False, label="Remove the stored private key")
    remote_path = forms.CharField(
        label="Remote folder",
        required=False,
        help_text="Absolute folder on the server, e.g. /home/backup/shop; created if missing.",
    )
    confirm_host_key = forms.BooleanField(
        required=False,
        label="I compared this fingerprint with the server's own (ssh-keygen -lf on the server's host key)",
    )

    class Meta:
        model = Destination
        fields = ["name", "kind", "enabled", "path", *S3_FIELDS, *SFTP_FIELDS[:-1]]
        labels = {
            "path": "Folder",
            "enabled": "Enabled (new backups are written here)",
            "endpoint_url": "Endpoint URL",
            "access_key_id": "Access key ID",
            "path_style": "Path-style addressing (MinIO, Ceph and most self-hosted servers)",
            "lock_mode": "Object Lock mode",
            "lock_days": "Object Lock days",
            "host_key": "Pinned host key",
        }
        help_texts = {
            "endpoint_url": "Empty for AWS; e.g. https://minio.example.com:9000 for others.",
            "region": "e.g. eu-west-1; empty means us-east-1.",
            "prefix": "Folder-like prefix inside the bucket, e.g. backups/shop.",
            "lock_mode": "Backups cannot be deleted before their lock ends (the bucket needs Object Lock).",
            "host_key": "Press “Scan host key” and confirm the fingerprint; a different key later fails "
            "every copy with “host key changed”.",
        }
        widgets = {
            "path": forms.TextInput(
                attrs={
                    "data-path-input": "",
                    "autocomplete": "off",
                    "spellcheck": "false",
                    "placeholder": "/",
                }
            ),
            "host_key": forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        }

    def __init__(self, *args, database: Database, **kwargs):
        super().__init__(*args, **kwargs)
        self.database = database
        self.fields["name"].widget.attrs["placeholder"] = "e.g. primary-disk"
        self.fields["kind"].widget.attrs["data-engine-select"] = ""
        # The quick "add a folder" form on the database page has no kind selector.
        self.fields["kind"].required = False
        self.fields["port"].widget.attrs["placeholder"] = "22"
        lock_mode = self.fields["lock_mode"]
        assert isinstance(lock_mode, forms.ChoiceField)
        lock_mode.choices = [("", "No Object Lock"), *Destination.LockMode.choices]
        self.fields["host"].widget.attrs["autocomplete"] = "off"
        self.fields["username"].widget.attrs["autocomplete"] = "off"
        if self.instance.pk and self.instance.kind == Destination.Kind.SFTP:
            self.initial.setdefault("remote_path", self.instance.path)
            self.initial["path"] = ""
        if not self.instance.pk:
            self.initial.setdefault("enabled", True)
        self._init_secrets()

    # -- the host key shown for confirmation --------------------------------

    @property
    def host_key_value(self) -> str:
        if self.is_bound:
            return self.data.get(self.add_prefix("host_key"), "") or ""
        return self.initial.get("host_key") or self.instance.host_key or ""

    @property
    def host_key_fingerprint(self) -> str:
        try:
            return fingerprint(parse_host_key(self.host_key_value)[1])
        except HostKeyError:
            return ""

    # -- validation ----------------------------------------------------------

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Destination.objects.filter(database=self.database, name__iexact=name).exclude(
            pk=self.instance.pk
        )
        if clash.exists():
            raise forms.ValidationError(f"This database already has a destination named “{name}”.")
        return name

    def clean(self):
        data = super().clean()
        if "kind" not in self.errors and not data.get("kind"):
            data["kind"] = Destination.Kind.LOCAL
        kind = data.get("kind")
        if kind == Destination.Kind.LOCAL:
            self._clean_local_path(data)
        elif kind == Destination.Kind.SFTP:
            data["path"] = (data.get("remote_path") or "").strip()
            self._clean_host_key_confirmation(data)
        elif kind == Destination.Kind.S3:
            data["path"] = ""
        self._clean_secrets(data)
        return data

    def _clean_local_path(self, data: dict) -> None:
        raw = data.get("path") or ""
        if not raw:
            self.add_error("path", "Enter the folder backups are written to.")
            return
        check = validate_local_path(raw, self.database.group_id)
        if not check.valid:
            self.add_error("path", check.message)
        elif not check.writable:
            self.add_error("path", check.message or "The folder is not writable by the server.")
        else:
            self.path_check = check
            data["path"] = check.resolved

    def _clean_host_key_confirmation(self, data: dict) -> None:
        new_key = (data.get("host_key") or "").strip()
        if not new_key:
            return  # the model says a host key is needed
        stored = self.instance.host_key if self.instance.pk else ""
        try:
            unchanged = stored and parse_host_key(new_key)[0] == stored
        except HostKeyError:
            return  # the model explains what is wrong with it
        if not unchanged and not data.get("confirm_host_key"):
            self.add_error(
                "confirm_host_key",
                "Compare the fingerprint with the server's and tick this box to pin the key.",
            )

    def _post_clean(self):
        # A field the form already refused is missing from the instance, so the model would add
        # its own "enter …" message under the form's: show each problem once.
        refused = {name: len(errors) for name, errors in self._errors.items() if name != "__all__"}
        super()._post_clean()
        for name, count in refused.items():
            del self._errors[name][count:]
        # The SFTP folder lives in the model's `path`: report its errors on the field people see.
        if self.cleaned_data.get("kind") == Destination.Kind.SFTP and "path" in self.errors:
            for message in self.errors.pop("path"):
                self.add_error("remote_path", message)

    def save(self, commit=True):
        self.instance.database = self.database
        if commit and self.instance.kind == Destination.Kind.LOCAL:
            # The check said "will be created": create it now so the first backup finds it.
            create_local_folder(self.instance.path)
        return super().save(commit)
