from rest_framework.routers import SimpleRouter

from apps.databases.api.views import DatabaseViewSet

router = SimpleRouter(trailing_slash="/?")
router.register("", DatabaseViewSet, basename="database")

urlpatterns = router.urls
