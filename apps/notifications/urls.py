from django.urls import path

from apps.notifications import views

app_name = "notifications"

urlpatterns = [
    path("new/<int:group_id>/", views.ChannelCreateView.as_view(), name="create"),
    path("<int:pk>/edit/", views.ChannelUpdateView.as_view(), name="update"),
    path("<int:pk>/delete/", views.ChannelDeleteView.as_view(), name="delete"),
    path("<int:pk>/test/", views.ChannelTestView.as_view(), name="test"),
]
