"""A large, realistic catalogue for benchmarks: `manage.py seed_catalogue` (bulk inserts only).

Groups of about 20 databases each; every other database is SQLite (a file path inside the group's own
SQLite folder, apps.groups.locations) and the others PostgreSQL rows that are never connected to.
Each database has a local destination (inside the group's backup folder) and, for two databases out
of three, an S3 one; one schedule with a future next run (so nothing is due); and its share of the
backups, spread evenly over the past year: ~90 % completed, ~5 % partial, ~5 % failed, none pending
or running (a worker would otherwise pick them up), with one copy per destination.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.backups.models import Backup, BackupCopy
from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.groups import locations
from apps.groups.models import Group
from apps.schedules.models import Schedule

BATCH = 5000
DATABASES_PER_GROUP = 20
_CRON = {"hourly": "0 * * * *", "daily": "0 3 * * *", "weekly": "0 4 * * 0"}
_ZONES = ("UTC", "Europe/Rome", "America/New_York")


class CatalogueNotEmpty(Exception):
    """The catalogue already has databases or backups (seed with force=True to add to it)."""


@dataclass
class SeedReport:
    groups: int
    databases: int
    destinations: int
    schedules: int
    backups: int
    copies: int
    seconds: float


def status_of(index: int) -> str:
    """A backup's status from its index: ~90 % completed, ~5 % partial, ~5 % failed, interleaved."""
    roll = (index * 37) % 100
    if roll >= 95:
        return Backup.Status.FAILED
    if roll >= 90:
        return Backup.Status.PARTIAL
    return Backup.Status.COMPLETED


def seed_catalogue(
    n_databases: int, n_backups: int, *, force: bool = False, now: datetime | None = None
) -> SeedReport:
    """Insert the catalogue with bulk_create in batches of BATCH rows; refuses a non-empty one."""
    if n_databases < 1 or n_backups < 0:
        raise ValueError("Seed at least one database and zero or more backups.")
    if not force and (Database.objects.exists() or Backup.objects.exists()):
        raise CatalogueNotEmpty(
            "The catalogue already has databases or backups; seed an empty one, or force it to add."
        )
    started = time.perf_counter()
    now = now or timezone.now()
    tag = secrets.token_hex(3)
    with transaction.atomic():
        n_groups = max(1, -(-n_databases // DATABASES_PER_GROUP))
        groups = Group.objects.bulk_create([Group(name=f"seed-{tag}-team-{i}") for i in range(n_groups)])
        databases = Database.objects.bulk_create(
            [_database(i, groups[i % n_groups].pk) for i in range(n_databases)], batch_size=BATCH
        )
        destinations = Destination.objects.bulk_create(
            [dest for db in databases for dest in _destinations(db)], batch_size=BATCH
        )
        by_db: dict[int, list[Destination]] = {}
        for dest in destinations:
            by_db.setdefault(dest.database_id, []).append(dest)
        schedules = []
        for i, db in enumerate(databases):
            interval = ("hourly", "daily", "weekly")[i % 3]
            schedule = Schedule(
                database=db,
                name=f"{interval} backup",
                interval_value=interval,
                cron_expression=_CRON[interval],
                timezone=_ZONES[i % len(_ZONES)],
                keep_days=400,
            )
            schedule.next_run_at = schedule.compute_next_run(after=now)
            schedules.append(schedule)
        schedules = Schedule.objects.bulk_create(schedules, batch_size=BATCH)
        schedule_of = {s.database_id: s for s in schedules}
        copies_made = 0
        year = timedelta(days=365)
        per_db = max(1, -(-n_backups // n_databases))
        step = year / per_db
        for start in range(0, n_backups, BATCH):
            rows = []
            for j in range(start, min(start + BATCH, n_backups)):
                db = databases[j % n_databases]
                k = j // n_databases  # the k-th newest backup of this database
                created = now - step * k - timedelta(minutes=1)
                rows.append(_backup(j, db, schedule_of[db.pk], created, len(by_db[db.pk])))
            backups = Backup.objects.bulk_create(rows, batch_size=BATCH)
            copies = [copy for b in backups for copy in _copies(b, by_db[b.database_id])]
            BackupCopy.objects.bulk_create(copies, batch_size=BATCH)
            copies_made += len(copies)
        Schedule.objects.filter(pk__in=[s.pk for s in schedules]).update(
            last_run_at=now - timedelta(minutes=1)
        )
    return SeedReport(
        groups=len(groups),
        databases=len(databases),
        destinations=len(destinations),
        schedules=len(schedules),
        backups=n_backups,
        copies=copies_made,
        seconds=time.perf_counter() - started,
    )


def _database(i: int, group_id: int) -> Database:
    name = f"db-{i:05d}"
    sqlite_folders = locations.default_paths(group_id, locations.SQLITE)
    if i % 2 == 0 and sqlite_folders:
        return Database(
            group_id=group_id,
            name=name,
            engine="sqlite",
            database_name=os.path.join(sqlite_folders[0], f"{name}.sqlite3"),
        )
    return Database(
        group_id=group_id,
        name=name,
        engine="postgresql",
        host="db.internal.example",
        port=5432,
        database_name=f"app_{i}",
        username="backup",
    )


def _destinations(db: Database) -> list[Destination]:
    found = []
    backup_folders = locations.default_paths(db.group_id, locations.BACKUPS)
    if backup_folders:
        found.append(
            Destination(
                database=db, name="local", kind="local", path=os.path.join(backup_folders[0], db.name)
            )
        )
    if not found or db.pk % 3:
        found.append(
            Destination(
                database=db,
                name="offsite",
                kind="s3",
                bucket="bm-offsite",
                prefix=db.name,
                region="eu-west-1",
                access_key_id="AKIASEEDEXAMPLE",
            )
        )
    return found


def _backup(j: int, db: Database, schedule: Schedule, created: datetime, n_destinations: int) -> Backup:
    status = status_of(j)
    if status == Backup.Status.PARTIAL and n_destinations < 2:
        status = Backup.Status.COMPLETED  # partial needs a destination that failed beside one that saved
    scheduled = j % 10 != 0
    duration = timedelta(seconds=20 + j % 200)
    size = None if status == Backup.Status.FAILED else 5_000_000 + (j * 7919) % 50_000_000
    extension = "sqlite3" if db.engine == "sqlite" else "dump"
    return Backup(
        database=db,
        schedule=schedule if scheduled else None,
        trigger=Backup.Trigger.SCHEDULED if scheduled else Backup.Trigger.MANUAL,
        status=status,
        created_at=created,
        started_at=created,
        finished_at=created + duration,
        size_bytes=size,
        bytes_done=size or 0,
        checksum_sha256="" if size is None else f"{j:064x}",
        file_name=f"{db.name}_{created:%Y%m%d-%H%M%S}_{j}.{extension}.zst",
        compression="zstd",
        error="pg_dump: connection refused" if status == Backup.Status.FAILED else "",
    )


def _copies(backup: Backup, destinations: list[Destination]) -> list[BackupCopy]:
    copies = []
    for n, dest in enumerate(destinations):
        if backup.status == Backup.Status.FAILED:
            status, error = BackupCopy.Status.FAILED, "the dump failed"
        elif backup.status == Backup.Status.PARTIAL and n == len(destinations) - 1 and n > 0:
            status, error = BackupCopy.Status.FAILED, "AccessDenied: not allowed to write"
        else:
            status, error = BackupCopy.Status.COMPLETED, ""
        copies.append(
            BackupCopy(
                backup=backup,
                destination=dest,
                destination_name=dest.name,
                location=f"{dest.name}/{backup.file_name}",
                status=status,
                size_bytes=backup.size_bytes if status == BackupCopy.Status.COMPLETED else None,
                error=error,
            )
        )
    return copies
