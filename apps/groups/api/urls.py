from apps.common.api import OptionalSlashRouter
from apps.groups.api.views import GroupViewSet

router = OptionalSlashRouter()
router.register("groups", GroupViewSet, basename="group")

urlpatterns = router.urls
