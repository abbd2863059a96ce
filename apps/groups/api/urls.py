from rest_framework.routers import SimpleRouter

from apps.groups.api.views import GroupViewSet

router = SimpleRouter(trailing_slash="/?")
router.register("", GroupViewSet, basename="group")

urlpatterns = router.urls
