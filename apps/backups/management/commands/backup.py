"""`manage.py backup <database_id>`: run one backup now, in the foreground."""

from __future__ import annotations

import os
import socket

from django.core.management.base import BaseCommand, CommandError

from apps.backups import lifecycle
from apps.backups.management.commands._progress import cancel_on_signals, human_bytes
from apps.backups.models import Backup
from apps.backups.runner import run_backup
from apps.databases.models import Database


class Command(BaseCommand):
    help = (
        "Back up one database now to each of its enabled destinations, printing progress. "
        "Exits 0 when completed, 2 when partial (some destinations failed), 1 when failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("database_id", type=int)

    def handle(self, *args, database_id: int, **options):
        database = Database.objects.filter(pk=database_id).first()
        if database is None:
            raise CommandError(f"Database {database_id} does not exist")
        backup = self._claim(database)
        self.stdout.write(f"Backup #{backup.pk} of {database.name} ({database.engine}) started")

        def progress(done: int) -> None:
            self.stdout.write(f"  {human_bytes(done)} written")

        # Created already in progress and owned by this process, with a heartbeat,
        # so no worker claims it from the queue or reaps it as dead meanwhile.
        with cancel_on_signals() as cancel, lifecycle.keep_alive(backup):
            backup = run_backup(backup, cancel=cancel, on_progress=progress)

        for copy in backup.copies.order_by("id"):
            line = f"  {copy.destination_name}: {copy.status} {copy.location}"
            if copy.error:
                line += f" ({copy.error})"
            self.stdout.write(line)
        if backup.status == Backup.Status.COMPLETED:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Backup #{backup.pk} completed: {backup.file_name}, "
                    f"{human_bytes(backup.size_bytes)}, sha256 {backup.checksum_sha256}"
                )
            )
            return
        if backup.status == Backup.Status.PARTIAL:
            raise CommandError(f"Backup #{backup.pk} partial: {backup.error}", returncode=2)
        raise CommandError(f"Backup #{backup.pk} failed: {backup.error}")

    def _claim(self, database: Database) -> Backup:
        """Create this run's backup in progress, unless one of the database is already running."""
        backup = lifecycle.create_running(
            Backup,
            database.pk,
            f"cli:{socket.gethostname()}:{os.getpid()}",
            database=database,
            trigger=Backup.Trigger.MANUAL,
        )
        if backup is None:
            raise CommandError(
                f"A backup or restore of {database.name} is running; one run per database at a time"
            )
        return backup
