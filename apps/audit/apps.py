from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        # Subscribe to sign-ins, model saves and deletions, and the lifecycle's run_finished.
        import apps.audit.handlers  # noqa: F401
