"""`manage.py restore <backup_id> --target <database_id> --yes`: restore one backup now."""

from __future__ import annotations

import os
import socket

from django.core.management.base import BaseCommand, CommandError

from apps.backups import lifecycle
from apps.backups.management.commands._progress import cancel_on_signals, human_bytes
from apps.backups.models import Backup, BackupCopy, Restore
from apps.backups.restore import run_restore
from apps.backups.services import RESTORABLE
from apps.databases.models import Database
from apps.engines import get_engine


class Command(BaseCommand):
    help = (
        "Restore a backup into a database now, replacing its data. Needs --yes. "
        "Exits 0 when completed, 1 when failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int)
        parser.add_argument("--target", type=int, required=True, help="id of the database to restore into")
        parser.add_argument(
            "--destination", type=int, default=None, help="read the copy at this destination id"
        )
        parser.add_argument(
            "--clean",
            action="store_true",
            help="a clean restore: afterwards nothing that is not in the backup remains in the target",
        )
        parser.add_argument("--yes", action="store_true", help="confirm that the target's data is replaced")

    def handle(
        self,
        *args,
        backup_id: int,
        target: int,
        destination: int | None,
        yes: bool,
        clean: bool = False,
        **options,
    ):
        backup = Backup.objects.select_related("database").filter(pk=backup_id).first()
        if backup is None:
            raise CommandError(f"Backup {backup_id} does not exist")
        database = Database.objects.filter(pk=target).first()
        if database is None:
            raise CommandError(f"Database {target} does not exist")
        if backup.status not in RESTORABLE:
            raise CommandError(
                f"Backup #{backup.pk} is {backup.status}; only completed or partial backups can be restored"
            )
        if database.engine != backup.database.engine:
            raise CommandError(
                f"Backup #{backup.pk} is a {backup.database.engine} dump; database {target} uses {database.engine}"
            )
        source_copy = None
        if destination is not None:
            source_copy = backup.copies.filter(destination_id=destination).first()
            if source_copy is None or source_copy.status != BackupCopy.Status.COMPLETED:
                raise CommandError(f"Backup #{backup.pk} has no saved copy at destination {destination}")
        engine = get_engine(database.engine)
        if clean and engine.clean_scope is None:
            raise CommandError(f"{engine.label} has no clean restore")
        if not yes:
            raise CommandError(
                f"This replaces the data of database {database.name!r} ({database.database_name}): "
                f"{engine.clean_scope if clean else engine.restore_scope} Run again with --yes to confirm."
            )
        # In progress and owned by this process from the start: no worker picks it up meanwhile.
        restore = lifecycle.create_running(
            Restore,
            database.pk,
            f"cli:{socket.gethostname()}:{os.getpid()}",
            backup=backup,
            target_database=database,
            source_copy=source_copy,
            clean_restore=clean,
        )
        if restore is None:
            raise CommandError(
                f"A backup or restore of {database.name} is running; one run per database at a time"
            )
        self.stdout.write(f"Restore #{restore.pk}: backup #{backup.pk} into {database.name} started")

        def progress(done: int) -> None:
            self.stdout.write(f"  {human_bytes(done)} read")

        with cancel_on_signals() as cancel, lifecycle.keep_alive(restore):
            restore = run_restore(restore, cancel=cancel, on_progress=progress)
        if restore.status != Restore.Status.COMPLETED:
            raise CommandError(f"Restore #{restore.pk} failed: {restore.error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Restore #{restore.pk} completed from {restore.source_copy.location if restore.source_copy else '?'}"
            )
        )
