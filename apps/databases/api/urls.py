from apps.common.api import OptionalSlashRouter
from apps.databases.api.views import DatabaseViewSet

router = OptionalSlashRouter()
router.register("", DatabaseViewSet, basename="database")

urlpatterns = router.urls
