"""`manage.py group_folders`: each group's server folders, and what lies outside them (for upgrades).

Databases (SQLite) and local destinations saved before groups had folders of their own keep
working only if their path lies in a folder of their group. This lists the others; it exits
with status 1 when there are any, so an upgrade script can stop on it.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.groups import locations
from apps.groups.models import Group


class Command(BaseCommand):
    help = "List each group's folders and the SQLite databases and local destinations outside them."

    def handle(self, *args, **options):
        outside = 0
        for group in Group.objects.order_by("pk"):
            self.stdout.write(f"group {group.pk} {group.name!r}")
            for row in locations.locations(group.pk):
                how = "own" if row.is_default else "granted"
                self.stdout.write(f"  {row.kind:8} {row.path} ({how})")
            databases = Database.objects.filter(group=group, engine="sqlite").order_by("pk")
            for database in databases:
                if not locations.allows(group.pk, locations.SQLITE, database.database_name):
                    outside += 1
                    self.stdout.write(
                        f"  OUTSIDE database {database.pk} {database.name!r}: {database.database_name}"
                    )
            destinations = Destination.objects.filter(database__group=group, kind=Destination.Kind.LOCAL)
            for destination in destinations.order_by("pk"):
                if not locations.allows(group.pk, locations.BACKUPS, destination.path):
                    outside += 1
                    self.stdout.write(
                        f"  OUTSIDE destination {destination.pk} {destination.name!r}: {destination.path}"
                    )
        if outside:
            raise CommandError(
                f"{outside} path(s) outside their group's folders: move them into the group's own folder "
                "and edit the path, or grant the folder to the group in the admin (see the README)."
            )
        self.stdout.write("Every SQLite database and local destination lies in its group's folders.")
