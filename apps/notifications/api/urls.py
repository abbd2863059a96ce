from apps.common.api import OptionalSlashRouter
from apps.notifications.api.views import NotificationChannelViewSet

router = OptionalSlashRouter()
router.register(r"groups/(?P<group_id>[0-9]+)/channels", NotificationChannelViewSet, basename="channel")

urlpatterns = router.urls
