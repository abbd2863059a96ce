"""The backups app's pages, split by page: the dashboard and lists, a backup's actions, restores."""

from apps.backups.views.actions import (
    BackupAcknowledgeView,
    BackupDeleteView,
    BackupDetailView,
    BackupDownloadView,
    BackupRunView,
    BackupScopedMixin,
    BackupVerifyView,
)
from apps.backups.views.pages import BackupListView, DashboardLiveView, DashboardView, DatabaseActivityView
from apps.backups.views.restores import (
    BackupRestoreView,
    RestoreDetailView,
    RestoreStatusView,
    restore_context,
    target_label,
)

__all__ = [
    "BackupAcknowledgeView",
    "BackupDeleteView",
    "BackupDetailView",
    "BackupDownloadView",
    "BackupListView",
    "BackupRestoreView",
    "BackupRunView",
    "BackupScopedMixin",
    "BackupVerifyView",
    "DashboardLiveView",
    "DashboardView",
    "DatabaseActivityView",
    "RestoreDetailView",
    "RestoreStatusView",
    "restore_context",
    "target_label",
]
