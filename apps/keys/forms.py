"""The group page's key forms: generate a pair, or import a public recipient."""

from __future__ import annotations

from django import forms

from apps.keys.models import NAME_MAX


class GenerateKeyForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX, help_text="e.g. “offsite 2026”")
    keep_identity = forms.BooleanField(
        required=False,
        label="Also keep the secret key here (encrypted) for restores from this app",
        help_text="Without it, restores need the secret key pasted in; losing it loses the backups.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "genkey")  # two key forms share the group page: unique names and ids
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["autocomplete"] = "off"


class ImportKeyForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX)
    recipient = forms.CharField(
        max_length=200,
        label="Public key",
        help_text="The age1… line age-keygen printed as “Public key”; the secret key stays with you.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "impkey")
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["autocomplete"] = "off"
        self.fields["recipient"].widget.attrs.update(
            {"autocomplete": "off", "spellcheck": "false", "placeholder": "age1…"}
        )
