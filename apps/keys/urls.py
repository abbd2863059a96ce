from django.urls import path

from apps.keys import views

app_name = "keys"

urlpatterns = [
    path("new/<int:group_id>/", views.KeyGenerateView.as_view(), name="generate"),
    path("import/<int:group_id>/", views.KeyImportView.as_view(), name="import"),
    path("<int:pk>/delete/", views.KeyDeleteView.as_view(), name="delete"),
]
