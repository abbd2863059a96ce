"""The local destination form; the folder is checked against the allowed roots."""

from __future__ import annotations

from django import forms

from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.destinations.services import create_local_folder


class DestinationForm(forms.ModelForm):
    class Meta:
        model = Destination
        fields = ["name", "path", "enabled"]
        labels = {"path": "Folder", "enabled": "Enabled (new backups are written here)"}
        widgets = {
            "path": forms.TextInput(
                attrs={
                    "data-path-input": "",
                    "autocomplete": "off",
                    "spellcheck": "false",
                    "placeholder": "/",
                }
            )
        }

    def __init__(self, *args, database: Database, **kwargs):
        super().__init__(*args, **kwargs)
        self.database = database
        self.fields["name"].widget.attrs["placeholder"] = "e.g. primary-disk"
        self.fields["path"].required = True
        if not self.instance.pk:
            self.initial.setdefault("enabled", True)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Destination.objects.filter(database=self.database, name__iexact=name).exclude(
            pk=self.instance.pk
        )
        if clash.exists():
            raise forms.ValidationError(f"This database already has a destination named “{name}”.")
        return name

    def clean_path(self):
        from apps.destinations.paths import validate_local_path

        check = validate_local_path(self.cleaned_data["path"])
        if not check.valid:
            raise forms.ValidationError(check.message)
        if not check.writable:
            raise forms.ValidationError(check.message or "The folder is not writable by the server.")
        self.path_check = check
        return check.resolved

    def save(self, commit=True):
        self.instance.database = self.database
        self.instance.kind = Destination.Kind.LOCAL
        if commit:
            # The check said "will be created": create it now so the first backup finds it.
            create_local_folder(self.instance.path)
        return super().save(commit)
