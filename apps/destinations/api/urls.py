from rest_framework.routers import SimpleRouter

from apps.destinations.api.views import DestinationViewSet

router = SimpleRouter(trailing_slash="/?")
router.register("", DestinationViewSet, basename="destination")

urlpatterns = router.urls
