from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        # Password changes and deactivations revoke the user's tokens.
        import apps.accounts.handlers  # noqa: F401
