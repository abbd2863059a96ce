from apps.common.api import OptionalSlashRouter
from apps.keys.api.views import GroupKeyViewSet

router = OptionalSlashRouter()
router.register("", GroupKeyViewSet, basename="key")

urlpatterns = router.urls
