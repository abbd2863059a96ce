from django.urls import re_path

from apps.accounts.api.views import (
    ApiTokenDetailView,
    ApiTokenListView,
    InviteAcceptView,
    LoginView,
    LogoutView,
    MeView,
    RefreshView,
    RegisterView,
)

urlpatterns = [
    re_path(r"^register/?$", RegisterView.as_view(), name="register"),
    re_path(r"^login/?$", LoginView.as_view(), name="login"),
    re_path(r"^refresh/?$", RefreshView.as_view(), name="refresh"),
    re_path(r"^logout/?$", LogoutView.as_view(), name="logout"),
    re_path(r"^me/?$", MeView.as_view(), name="me"),
    re_path(r"^tokens/?$", ApiTokenListView.as_view(), name="tokens"),
    re_path(r"^tokens/(?P<token_id>\d+)/?$", ApiTokenDetailView.as_view(), name="token"),
    re_path(r"^invites/accept/?$", InviteAcceptView.as_view(), name="invite-accept"),
]
