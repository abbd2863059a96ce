"""Rebuild backup records from the manifests at a destination (after the host and its catalogue were lost).

`import_destination(destination)` reads every `<name>.manifest.json` in the
destination's folder (or bucket prefix), checks that the file it describes is
there with the recorded size, and records a completed backup with one copy
there. A dump already on record (same database, file name and sha256) gains
a copy instead of a second record; a copy already on record is left alone.
Nothing is deleted or rewritten at the destination.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from apps.backups import manifest
from apps.backups.models import Backup, BackupCopy
from apps.destinations.storage import StorageError, get_storage

log = logging.getLogger(__name__)

MANIFEST_LIMIT = 1 << 16  # a manifest is a few hundred bytes; refuse to read a huge file whole


@dataclass
class ImportReport:
    """What an import found: records created, copies added, manifests skipped and why."""

    imported: list[int] = field(default_factory=list)  # new backup ids
    copies_added: list[int] = field(default_factory=list)  # existing backups that gained a copy
    known: int = 0  # manifests whose copy was on record already
    problems: list[str] = field(default_factory=list)


def import_destination(destination) -> ImportReport:
    """Record every backup described by a manifest at `destination`; return what happened.

    Raises StorageError when the destination cannot be listed at all.
    """
    storage = get_storage(destination)
    database = destination.database
    report = ImportReport()
    for location in storage.list_locations(manifest.SUFFIX):
        data_location = location[: -len(manifest.SUFFIX)]
        try:
            with storage.open_reader(location) as fh:
                raw = fh.read(MANIFEST_LIMIT + 1)
            if len(raw) > MANIFEST_LIMIT:
                raise manifest.ManifestError("larger than a manifest can be")
            found = manifest.loads(raw)
        except (StorageError, OSError, manifest.ManifestError) as exc:
            report.problems.append(f"{location}: {exc}")
            continue
        problem = _check(found, data_location, database, storage)
        if problem:
            report.problems.append(f"{location}: {problem}")
            continue
        if BackupCopy.objects.filter(destination=destination, location=data_location).exists():
            report.known += 1
            continue
        _record(found, destination, database, data_location, report)
    return report


def _check(found: dict, data_location: str, database, storage) -> str:
    if found["database"].get("engine") != database.engine:
        return f"a {found['database'].get('engine')} backup; this destination belongs to a {database.engine} database"
    if not data_location.endswith("/" + found["file_name"]) and data_location != found["file_name"]:
        return f"describes {found['file_name']}, not the file beside it"
    try:
        size = storage.size(data_location)
    except StorageError as exc:
        return f"its backup file is not readable: {exc}"
    if size != found["size_bytes"]:
        return f"its backup file has {size} bytes, the manifest says {found['size_bytes']}"
    return ""


def _record(found: dict, destination, database, data_location: str, report: ImportReport) -> None:
    created = datetime.fromisoformat(found["created_at"])
    encryption = found.get("encryption") or {}
    trigger = found.get("trigger")
    if trigger not in Backup.Trigger.values:
        trigger = Backup.Trigger.MANUAL
    with transaction.atomic():
        backup = Backup.objects.filter(
            database=database,
            file_name=found["file_name"],
            checksum_sha256=found["sha256"],
            status__in=[Backup.Status.COMPLETED, Backup.Status.PARTIAL],
        ).first()
        if backup is None:
            backup = Backup.objects.create(
                database=database,
                trigger=str(trigger),
                status=Backup.Status.COMPLETED,
                created_at=created,
                started_at=created,
                finished_at=created,
                size_bytes=found["size_bytes"],
                bytes_done=found["size_bytes"],
                checksum_sha256=found["sha256"],
                file_name=found["file_name"],
                compression=found["compression"],
                encrypted=bool(encryption),
                encryption_recipient=encryption.get("recipient", ""),
            )
            report.imported.append(backup.pk)
        else:
            report.copies_added.append(backup.pk)
        BackupCopy.objects.create(
            backup=backup,
            destination=destination,
            destination_name=destination.name,
            location=data_location,
            status=BackupCopy.Status.COMPLETED,
            size_bytes=found["size_bytes"],
        )
    log.info("catalogue: backup %s recorded from %s", backup.pk, data_location)
