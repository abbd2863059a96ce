from apps.common.api import OptionalSlashRouter
from apps.schedules.api.views import ScheduleViewSet

router = OptionalSlashRouter()
router.register("schedules", ScheduleViewSet, basename="schedule")

urlpatterns = router.urls
