from apps.common.api import OptionalSlashRouter
from apps.notifications.api.views import NotificationChannelViewSet

router = OptionalSlashRouter()
router.register("", NotificationChannelViewSet, basename="channel")

urlpatterns = router.urls
