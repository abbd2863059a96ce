from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("login/code/", views.SignInCodeView.as_view(), name="login-code"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("register/", views.RegisterView.as_view(), name="register"),
    path("invite/<str:token>/", views.InviteView.as_view(), name="invite"),
    path("groups/<int:pk>/invites/", views.InviteCreateView.as_view(), name="invite-create"),
    path(
        "groups/<int:pk>/invites/<int:invite_id>/revoke/",
        views.InviteRevokeView.as_view(),
        name="invite-revoke",
    ),
    path("tokens/", views.ApiTokensView.as_view(), name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.ApiTokenRevokeView.as_view(), name="token-revoke"),
    path("two-factor/", views.TwoFactorView.as_view(), name="two-factor"),
]
