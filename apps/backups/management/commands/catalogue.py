"""`manage.py catalogue import <destination_id>`: rebuild backup records from a destination's manifests."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.backups.catalogue import import_destination
from apps.destinations.models import Destination
from apps.destinations.storage import StorageError


class Command(BaseCommand):
    help = (
        "Rebuild the backup records of a destination from the <file>.manifest.json beside each copy "
        "(after the host and its metadata were lost). Register the database and the destination first."
    )

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="record the backups described by the manifests at a destination")
        imp.add_argument("destination_id", type=int)

    def handle(self, *args, action: str, destination_id: int, **options) -> None:
        destination = Destination.objects.select_related("database").filter(pk=destination_id).first()
        if destination is None:
            raise CommandError(f"Destination {destination_id} does not exist")
        try:
            report = import_destination(destination)
        except StorageError as exc:
            raise CommandError(f"Cannot list destination {destination.name!r}: {exc}") from None
        for problem in report.problems:
            self.stderr.write(f"  skipped {problem}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Destination {destination.name!r} of {destination.database.name}: "
                f"{len(report.imported)} backup(s) imported, {len(report.copies_added)} gained a copy, "
                f"{report.known} already on record, {len(report.problems)} skipped"
            )
        )
        if report.problems and not (report.imported or report.copies_added or report.known):
            raise CommandError("No manifest could be imported", returncode=1)
