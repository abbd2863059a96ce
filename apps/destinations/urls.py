from django.urls import path

from apps.destinations import views

app_name = "destinations"

urlpatterns = [
    path("new/<int:database_id>/", views.DestinationCreateView.as_view(), name="create"),
    path("<int:database_id>/browse/", views.PathBrowseView.as_view(), name="browse"),
    path("<int:database_id>/check/", views.PathCheckView.as_view(), name="check"),
    path("<int:pk>/edit/", views.DestinationUpdateView.as_view(), name="update"),
    path("<int:pk>/delete/", views.DestinationDeleteView.as_view(), name="delete"),
    path("<int:pk>/toggle/", views.DestinationToggleView.as_view(), name="toggle"),
    path("<int:pk>/test/", views.DestinationTestView.as_view(), name="test"),
]
