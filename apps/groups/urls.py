from django.urls import path

from apps.groups import views

app_name = "groups"

urlpatterns = [
    path("", views.GroupListView.as_view(), name="list"),
    path("new/", views.GroupCreateView.as_view(), name="create"),
    path("<int:pk>/", views.GroupDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.GroupUpdateView.as_view(), name="update"),
    path("<int:pk>/delete/", views.GroupDeleteView.as_view(), name="delete"),
    path("<int:pk>/members/", views.MembershipCreateView.as_view(), name="member-add"),
    path(
        "<int:pk>/members/<int:membership_id>/role/", views.MembershipUpdateView.as_view(), name="member-role"
    ),
    path(
        "<int:pk>/members/<int:membership_id>/remove/",
        views.MembershipDeleteView.as_view(),
        name="member-remove",
    ),
]
