from django.urls import path

from apps.schedules import views

app_name = "schedules"

urlpatterns = [
    path("", views.ScheduleListView.as_view(), name="list"),
    path("new/", views.ScheduleCreateView.as_view(), name="create"),
    path("preview/", views.SchedulePreviewView.as_view(), name="preview"),
    path("<int:pk>/edit/", views.ScheduleUpdateView.as_view(), name="update"),
    path("<int:pk>/delete/", views.ScheduleDeleteView.as_view(), name="delete"),
    path("<int:pk>/toggle/", views.ScheduleToggleView.as_view(), name="toggle"),
]
