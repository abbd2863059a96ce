"""The cache table (CACHES' DatabaseCache): created by `migrate`, so every deployment has it.

Throttles live in the cache; in the database they are shared by every web process and host.
A no-op when CACHES uses no database (the test settings).
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies: list[tuple[str, str]] = []

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
