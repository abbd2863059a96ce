from apps.common.api import OptionalSlashRouter
from apps.keys.api.views import GroupKeyViewSet

router = OptionalSlashRouter()
router.register(r"groups/(?P<group_id>[0-9]+)/keys", GroupKeyViewSet, basename="key")

urlpatterns = router.urls
