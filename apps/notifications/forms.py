"""The notification channel form: kind, target checked per kind, events, enabled, a write-only secret."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from apps.notifications.models import NotificationChannel, clean_secret, clean_target

Kind = NotificationChannel.Kind
Event = NotificationChannel.Event

NO_EVENTS = "Choose at least one event to send."


class ChannelForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": NO_EVENTS},
    )
    secret = forms.CharField(
        required=False,
        strip=False,
        max_length=1024,
        label="Signing secret (optional)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Webhooks only: each request carries an HMAC-SHA256 signature made with it. "
        "Stored encrypted; never shown again.",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored secret")

    class Meta:
        model = NotificationChannel
        fields = ["kind", "target", "events", "enabled"]
        labels = {"kind": "Kind", "target": "Send to", "enabled": "Enabled"}
        help_texts = {
            "target": "An email address, the URL the webhook POSTs JSON to, "
            "or an Apprise URL (ntfy://host/topic, tgram://token/chat, …)."
        }

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_channel_%s")
        super().__init__(*args, **kwargs)
        self.fields["target"].widget = forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "ops@example.com or https://…",
            }
        )
        self.fields["kind"].choices = Kind.choices  # no empty "---------" choice
        self.fields["kind"].widget.attrs["data-engine-select"] = ""  # the secret follows the kind
        if not self.instance.pk:
            self.initial.setdefault("kind", Kind.EMAIL)
            self.initial.setdefault("events", list(Event.values))
        if self.instance.pk and self.instance.has_secret:
            self.fields["secret"].help_text = "A secret is stored; leave empty to keep it."
        else:
            del self.fields["clear_secret"]

    def clean_events(self) -> list[str]:
        chosen = self.cleaned_data["events"]
        return [event for event in Event.values if event in chosen]  # canonical order, no repeats

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind:
            try:
                clean_secret(kind, data.get("secret") or "")
            except ValidationError as exc:
                self.add_error("secret", exc)
        if kind and "target" in data:
            try:
                data["target"] = clean_target(kind, data["target"])
            except ValidationError as exc:
                self.add_error("target", exc)
        return data

    def _post_clean(self):
        keep = self.instance.secret if self.instance.pk else ""
        super()._post_clean()
        data = getattr(self, "cleaned_data", {})
        if data.get("clear_secret"):
            self.instance.secret = ""
        elif data.get("secret"):
            self.instance.secret = data["secret"]
        else:
            self.instance.secret = keep
