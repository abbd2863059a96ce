"""`manage.py seed_catalogue --databases 500 --backups 100000`: a large catalogue for benchmarks."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.backups.seed import CatalogueNotEmpty, seed_catalogue


class Command(BaseCommand):
    help = (
        "Fill an empty catalogue with groups, databases (SQLite paths in the groups' folders, PostgreSQL "
        "rows never connected to), destinations, schedules and a year of backups with their copies, "
        "by bulk inserts. For benchmarks: never on a real site."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--databases", type=int, default=500)
        parser.add_argument("--backups", type=int, default=100_000)
        parser.add_argument(
            "--force", action="store_true", help="add to a catalogue that already has databases or backups"
        )

    def handle(self, *args, databases: int, backups: int, force: bool, **options) -> None:
        if databases < 1 or backups < 0:
            raise CommandError("--databases must be at least 1 and --backups at least 0.")
        try:
            report = seed_catalogue(databases, backups, force=force)
        except CatalogueNotEmpty as exc:
            raise CommandError(f"{exc} (--force)") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {report.groups} groups, {report.databases} databases, {report.destinations} "
                f"destinations, {report.schedules} schedules, {report.backups} backups and "
                f"{report.copies} copies in {report.seconds:.1f} s"
            )
        )
