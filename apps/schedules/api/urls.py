from rest_framework.routers import SimpleRouter

from apps.schedules.api.views import ScheduleViewSet

router = SimpleRouter(trailing_slash="/?")
router.register("", ScheduleViewSet, basename="schedule")

urlpatterns = router.urls
