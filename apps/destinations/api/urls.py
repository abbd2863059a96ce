from apps.common.api import OptionalSlashRouter
from apps.destinations.api.views import DestinationViewSet

router = OptionalSlashRouter()
router.register("", DestinationViewSet, basename="destination")

urlpatterns = router.urls
