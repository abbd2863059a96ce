"""Re-encrypt every stored secret with the newest key in BM_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.common.fields import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt stored credentials with the first (newest) key of BM_ENCRYPTION_KEYS. "
        "Afterwards the older keys can be removed from the list."
    )

    def handle(self, *args, **options):
        from django.apps import apps

        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.fields if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            with transaction.atomic():
                for obj in model.objects.select_for_update().only("pk", *fields):
                    # Loading decrypts with any key; saving encrypts with the newest one.
                    obj.save(update_fields=fields)
                    total += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted secrets of {total} rows."))
