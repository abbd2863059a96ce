from apps.common.api import OptionalSlashRouter
from apps.databases.api.views import DatabaseViewSet

router = OptionalSlashRouter()
router.register("databases", DatabaseViewSet, basename="database")

urlpatterns = router.urls
