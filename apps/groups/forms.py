"""Group and membership forms."""

from __future__ import annotations

from django import forms

from apps.accounts.models import Membership
from apps.groups.models import Group


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        error_messages = {"name": {"unique": "A group with this name already exists. Pick another name."}}


class MemberAddForm(forms.Form):
    """Parses the add-member form; apps.groups.services.add_member decides."""

    username = forms.CharField(max_length=150, help_text="The user must already have an account.")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
