from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "apps.backups"
    label = "backups"

    def ready(self) -> None:
        # Subscribe to the lifecycle's run_finished event.
        import apps.backups.handlers  # noqa: F401
