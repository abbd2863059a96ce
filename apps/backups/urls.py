from django.urls import path

from apps.backups import views

app_name = "backups"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("dashboard/live/", views.DashboardLiveView.as_view(), name="dashboard-live"),
    path("backups/", views.BackupListView.as_view(), name="list"),
    path("backups/<int:pk>/acknowledge/", views.BackupAcknowledgeView.as_view(), name="acknowledge"),
    path("backups/run/<int:database_id>/", views.BackupRunView.as_view(), name="run"),
    path("backups/activity/<int:database_id>/", views.DatabaseActivityView.as_view(), name="activity"),
    path("backups/<int:pk>/", views.BackupDetailView.as_view(), name="detail"),
    path("backups/<int:pk>/verify/", views.BackupVerifyView.as_view(), name="verify"),
    path("backups/<int:pk>/download/", views.BackupDownloadView.as_view(), name="download"),
    path("backups/<int:pk>/delete/", views.BackupDeleteView.as_view(), name="delete"),
    path("backups/<int:pk>/restore/", views.BackupRestoreView.as_view(), name="restore"),
    path("restores/<int:pk>/", views.RestoreDetailView.as_view(), name="restore-detail"),
    path("restores/<int:pk>/status/", views.RestoreStatusView.as_view(), name="restore-status"),
]
