"""/api/backups/... and /api/restores/... (included at /api/)."""

from apps.backups.api.views import BackupViewSet, DrillViewSet, RestoreViewSet
from apps.common.api import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("backups", BackupViewSet, basename="backup")
router.register("restores", RestoreViewSet, basename="restore")
router.register("drills", DrillViewSet, basename="drill")

urlpatterns = router.urls
