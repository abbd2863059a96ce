from apps.common.api import OptionalSlashRouter
from apps.destinations.api.views import DestinationViewSet

router = OptionalSlashRouter()
router.register(r"databases/(?P<database_id>[0-9]+)/destinations", DestinationViewSet, basename="destination")

urlpatterns = router.urls
