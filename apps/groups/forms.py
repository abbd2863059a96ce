"""Group and membership forms."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from apps.accounts.models import Membership
from apps.groups.models import Group


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        error_messages = {"name": {"unique": "A group with this name already exists. Pick another name."}}


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="The user must already have an account.")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)

    def __init__(self, *args, group: Group, **kwargs):
        super().__init__(*args, **kwargs)
        self.group = group

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username__iexact=username).first()
        if user is None:
            raise forms.ValidationError(f"There is no user named “{username}”.")
        if Membership.objects.filter(group=self.group, user=user).exists():
            raise forms.ValidationError(f"{user.username} is already a member of this group.")
        self.user = user
        return username

    def save(self) -> Membership:
        return Membership.objects.create(group=self.group, user=self.user, role=self.cleaned_data["role"])


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
