"""Usernames are unique regardless of case, enforced by the database too.

PostgreSQL and SQLite get a unique index on lower(username); MySQL/MariaDB compare
usernames case-insensitively already (their default collation), so auth_user's own
unique index covers it. Existing duplicates (created before this rule) are left as
they are and the index is not created: the application check still refuses new ones.
"""

from django.db import migrations

INDEX = "accounts_username_lower_uniq"


def create_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor not in {"postgresql", "sqlite"}:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(username) FROM auth_user GROUP BY lower(username) HAVING count(*) > 1")
        if cursor.fetchone():
            return
        cursor.execute(f"CREATE UNIQUE INDEX {INDEX} ON auth_user (lower(username))")


def drop_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor in {"postgresql", "sqlite"}:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_security_tokens_invites"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_index, drop_index)]
