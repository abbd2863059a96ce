from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"

    def ready(self) -> None:
        # Subscribe to the lifecycle's run_finished event.
        import apps.notifications.handlers  # noqa: F401
