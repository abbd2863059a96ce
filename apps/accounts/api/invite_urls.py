"""Invite links of a group: /api/groups/{id}/invites/ (owners)."""

from django.urls import re_path

from apps.accounts.api.views import GroupInviteDetailView, GroupInviteListView

urlpatterns = [
    re_path(r"^groups/(?P<group_id>\d+)/invites/?$", GroupInviteListView.as_view(), name="group-invites"),
    re_path(
        r"^groups/(?P<group_id>\d+)/invites/(?P<invite_id>\d+)/?$",
        GroupInviteDetailView.as_view(),
        name="group-invite",
    ),
]
