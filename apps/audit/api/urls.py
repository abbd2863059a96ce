"""/api/audit/ (included at /api/)."""

from apps.audit.api.views import AuditEntryViewSet
from apps.common.api import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("audit", AuditEntryViewSet, basename="audit")

urlpatterns = router.urls
