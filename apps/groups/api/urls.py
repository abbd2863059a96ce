from apps.common.api import OptionalSlashRouter
from apps.groups.api.views import GroupViewSet

router = OptionalSlashRouter()
router.register("", GroupViewSet, basename="group")

urlpatterns = router.urls
