"""The database form: its fields follow the engine (network server or SQLite file)."""

from __future__ import annotations

import json
import os

from django import forms

from apps.databases.models import Database
from apps.engines import ConnectionInfo
from apps.groups import locations
from apps.groups.models import Group
from apps.keys.models import GroupKey

CONNECTION_FIELDS = ("engine", "host", "port", "database_name", "username", "password")


def sqlite_examples(group_ids) -> dict[str, str]:
    """{group id: an example SQLite file path in that group's own SQLite folder}."""
    examples = {}
    for group_id in group_ids:
        folders = locations.default_paths(group_id, locations.SQLITE)
        if folders:
            examples[str(group_id)] = os.path.join(folders[0], "app.sqlite3")
    return examples


class DatabaseForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted; never shown again.",
    )
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")

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
            "compression",
            "timeout_seconds",
            "encryption_key",
        ]
        labels = {
            "database_name": "Database name",
            "timeout_seconds": "Timeout (seconds)",
        }
        help_texts = {
            "timeout_seconds": "Limit for one backup or restore; empty uses the server default.",
            "compression": "zstd is the fastest; gzip is the most widely readable.",
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        groups = Group.objects.visible_to(user)
        if not user.is_superuser:
            groups = groups.filter(memberships__user=user, memberships__role="owner")
        self.fields["group"].queryset = groups.order_by("name")
        self.fields["group"].empty_label = None if groups.count() == 1 else "Choose a group"
        self.fields["engine"].widget.attrs["data-engine-select"] = ""
        self.fields["port"].widget.attrs["placeholder"] = "default"
        self.fields["database_name"].widget.attrs.update(
            {"data-label-sqlite": "SQLite file path", "data-label-other": "Database name"}
        )
        self.fields[
            "database_name"
        ].help_text = "For SQLite, the absolute path of the database file on this server."
        # The SQLite placeholder is a path the group would accept (app.js shows the chosen group's).
        self.fields["database_name"].widget.attrs["data-sqlite-examples"] = json.dumps(
            sqlite_examples(groups.values_list("pk", flat=True))
        )
        self.fields["host"].widget.attrs["autocomplete"] = "off"
        self.fields["username"].widget.attrs["autocomplete"] = "off"
        # Keys of the groups offered above; the model checks the key is of the chosen group.
        keys = self.fields["encryption_key"]
        keys.queryset = (
            GroupKey.objects.filter(group__in=groups).select_related("group").order_by("group__name", "name")
        )
        keys.label_from_instance = lambda key: f"{key.name} ({key.group.name}) · {key.recipient[:16]}…"
        keys.empty_label = "None: backups are not encrypted"
        keys.help_text = "Backups are encrypted with age to this key (a key of the database's group)."
        if not (self.instance.pk and self.instance.has_password):
            del self.fields["clear_password"]
        else:
            self.fields["password"].help_text = "A password is stored; leave empty to keep it."

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def clean(self):
        # The password is not a model field of this form: a typed one (or the removal) is entered
        # on the instance; a blank one keeps the stored password, which Database.clean() refuses
        # to send to a changed host, port, user or engine.
        data = super().clean()
        if data.get("clear_password"):
            self.instance.enter_secret("password", "")
        elif data.get("password"):
            self.instance.enter_secret("password", data["password"])
        return data

    def connection_info(self) -> ConnectionInfo:
        """What the engine needs to try this form's settings (valid connection fields required).

        The instance carries them once the form is validated: the typed or kept password and the
        fields as Database.clean() settled them for the engine (default port, SQLite without host).
        """
        return self.instance.connection_info()

    def connection_errors(self) -> dict:
        """Errors that keep a connection test from running (name and group do not matter)."""
        return {k: v for k, v in self.errors.items() if k in CONNECTION_FIELDS or k == "__all__"}
