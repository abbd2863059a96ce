from django.urls import path

from apps.databases import views

app_name = "databases"

urlpatterns = [
    path("", views.DatabaseListView.as_view(), name="list"),
    path("new/", views.DatabaseCreateView.as_view(), name="create"),
    path("test-connection/", views.DatabaseTestConnectionView.as_view(), name="test-connection"),
    path("<int:pk>/", views.DatabaseDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.DatabaseUpdateView.as_view(), name="update"),
    path("<int:pk>/delete/", views.DatabaseDeleteView.as_view(), name="delete"),
    path(
        "<int:pk>/test-connection/", views.DatabaseTestConnectionView.as_view(), name="test-connection-edit"
    ),
    path("<int:pk>/check/", views.DatabaseCheckView.as_view(), name="check"),
]
