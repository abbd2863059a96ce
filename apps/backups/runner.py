"""Run one backup end to end, recording everything on its row.

`run_backup(backup)` is what the worker, `manage.py backup` and the tests
call. It never raises for an ordinary failure (tool error, timeout,
destination trouble): the row ends in a terminal status with an error a
person can act on, secrets masked. Every status change goes through the
lifecycle, so a run that another worker reaped meanwhile is not finished a
second time: its owner removes the files only it knows about instead.
Restores are in `restore.py`, verifications in `verification.py`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

from django.conf import settings
from django.utils import timezone

from apps.backups import anomaly, encryption, lifecycle, manifest
from apps.backups import compression as codecs
from apps.backups.models import Backup, BackupCopy
from apps.backups.pipeline import PipelineResult, run_pipeline
from apps.backups.streams import Workdir
from apps.common.masking import mask_secrets, tail
from apps.destinations.storage import Storage, StorageError, get_storage, storage_for_copy
from apps.engines import get_engine
from apps.engines import inventory as engine_inventory
from apps.engines.base import EngineError
from apps.keys import services as keys

log = logging.getLogger(__name__)

ERROR_LIMIT = 4000


def timeout_for(database) -> int:
    """The time limit of one backup or restore run of this database, in seconds."""
    return int(database.timeout_seconds or settings.BM_BACKUP_TIMEOUT)


def backup_file_name(backup: Backup, extension: str, compression: str) -> str:
    """`<database-slug>_<UTC YYYYmmddTHHMMSSZ>_<backup id>.<ext><compression suffix>[.age]`."""
    started = (backup.started_at or backup.created_at or timezone.now()).astimezone(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    suffix = encryption.stored_suffix(compression, backup.encrypted)
    return f"{backup.database.slug}_{stamp}_{backup.pk}.{extension}{suffix}"


def clean_error(text: str, secrets: list[str]) -> str:
    """An error message fit for the record: secrets masked, at most ERROR_LIMIT characters."""
    return tail(mask_secrets(text, secrets), ERROR_LIMIT)


@dataclass
class _Outcome:
    """How a backup run ends: its status, error, and what is recorded with it."""

    status: str
    error: str = ""
    fields: dict = field(default_factory=dict)
    # (copy, status, size, error) recorded on each copy when the run's finish wins.
    copies: list[tuple[BackupCopy, str, int | None, str]] = field(default_factory=list)
    # Locations of files this run committed, removed again if the finish loses.
    written: list[BackupCopy] = field(default_factory=list)


def run_backup(
    backup: Backup,
    *,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Backup:
    """Run a pending (or claimed, in-progress) backup now; return it, terminal.

    pending/in_progress → in_progress → completed | partial | failed. A backup
    that is terminal, or that is not this caller's to run, is returned
    unchanged. `cancel`, when set by the caller (a worker shutting down after
    its grace period, Ctrl-C), aborts the dump and leaves no file behind; a
    `lifecycle.Cancel` also says why. `on_progress(stored_bytes)` is called
    about once a second, after bytes_done and heartbeat_at were saved.
    """
    if not lifecycle.start(backup):
        return backup
    cancel = cancel if cancel is not None else lifecycle.Cancel()
    secrets: list[str] = []
    try:
        database = backup.database
        conn = database.connection_info()
        secrets.extend(conn.secrets)
        backup.compression = codecs.normalize(database.compression)
        # Fail closed: a database with a key is encrypted to it, or the run fails.
        recipients = keys.recipients_for(database)
        backup.encrypted = recipients is not None
        backup.encryption_recipient = recipients[0] if recipients else ""
        Backup.objects.filter(pk=backup.pk).update(
            compression=backup.compression,
            encrypted=backup.encrypted,
            encryption_recipient=backup.encryption_recipient,
        )
        outcome = _run_backup(backup, database, conn, secrets, cancel, on_progress, recipients)
    except Exception as exc:  # a bug must not leave the row in progress forever
        log.exception("Backup %s failed unexpectedly", backup.pk)
        outcome = _Outcome(Backup.Status.FAILED, clean_error(f"Internal error: {exc}", secrets))
    _conclude(backup, outcome)
    return backup


def _run_backup(backup, database, conn, secrets, cancel, on_progress, recipients) -> _Outcome:
    destinations = list(database.destinations.filter(enabled=True).order_by("id"))
    if not destinations:
        return _Outcome(Backup.Status.FAILED, "no enabled destination")
    engine = get_engine(database.engine)
    extension = getattr(engine, "extension", None) or "dump"
    file_name = backup_file_name(backup, extension, backup.compression)
    copies = _create_copies(backup, destinations, file_name, secrets)
    timeout = timeout_for(database)
    deadline = time.monotonic() + timeout

    inventory = _take_inventory(backup, conn)
    with Workdir() as workdir:
        try:
            stream = engine.dump(conn, timeout=timeout, workdir=workdir)
        except EngineError as exc:
            return _Outcome(Backup.Status.FAILED, clean_error(str(exc), secrets))
        if stream.extension != extension:
            file_name = backup_file_name(backup, stream.extension, backup.compression)
        backup.file_name = file_name
        Backup.objects.filter(pk=backup.pk).update(file_name=file_name)

        writers = {}
        storages: dict[int, Storage] = {}
        try:
            for dest, copy in copies:
                if copy.status == BackupCopy.Status.FAILED:
                    continue
                try:
                    storage = storages[copy.pk] = get_storage(dest)
                    secrets.extend(storage.secrets())  # masked in every message of this run
                    copy.location = storage.location_for(file_name)
                    writers[copy.pk] = storage.open_writer(file_name)
                except StorageError as exc:
                    copy.status = BackupCopy.Status.FAILED
                    copy.error = clean_error(str(exc), secrets)
                copy.save(update_fields=["location", "status", "error"])
        except BaseException:
            for writer in writers.values():
                writer.abort()
            stream.abort()
            raise

        if not writers:
            stream.abort()
            details = "; ".join(copy.error for _, copy in copies if copy.error)
            return _Outcome(
                Backup.Status.FAILED, clean_error(f"Every destination failed: {details}", secrets)
            )

        def progress(done: int) -> None:
            if not lifecycle.save_progress(backup, done):
                # Another worker reaped this run: stop, whatever is written will not count.
                lifecycle.stop(cancel, lifecycle.LOST)
            elif on_progress is not None:
                on_progress(done)

        result = run_pipeline(
            stream,
            writers,
            backup.compression,
            timeout=max(1.0, deadline - time.monotonic()),
            on_progress=progress,
            cancel=cancel,
            recipients=recipients,
        )
    if result.error and cancel.is_set() and getattr(cancel, "reason", ""):
        result.error = cancel.reason  # type: ignore[attr-defined]
    if not result.error and result.raw_size < engine.empty_dump_floor:
        _discard(backup, result, storages)
        result.error = (
            f"The dump has only {result.raw_size} bytes, fewer than any {database.engine} dump "
            f"(at least {engine.empty_dump_floor}): the tool produced no data, so nothing was kept"
        )
    if not result.error:
        _write_manifests(backup, database, file_name, result, storages, secrets)
    outcome = _outcome_of(result, copies, secrets)
    if outcome.status == Backup.Status.COMPLETED:
        outcome.fields["anomaly"] = anomaly.size_anomaly(backup, result.size)
    outcome.fields["inventory"] = inventory
    return outcome


def _take_inventory(backup: Backup, conn) -> dict | None:
    """What the database holds as the dump starts (tables and row counts), for drills; None if unknown."""
    try:
        return engine_inventory.take(conn, timeout=30).as_dict()
    except EngineError as exc:
        log.warning("Backup %s: no inventory of the database: %s", backup.pk, exc)
        return None


def _discard(backup: Backup, result: PipelineResult, storages) -> None:
    """Remove the files a run committed but must not keep; their outcomes become failures."""
    for pipe in result.outcomes:
        if pipe.ok:
            try:
                storages[pipe.key].delete(pipe.location)
            except StorageError as exc:
                log.warning("Backup %s: cannot remove %s: %s", backup.pk, pipe.location, exc)
            pipe.ok = False


def _write_manifests(backup, database, file_name, result: PipelineResult, storages, secrets) -> None:
    """Write `<file>.manifest.json` beside each saved copy; a copy whose manifest fails fails too.

    A copy is only "saved" with its manifest, so the catalogue can always be
    rebuilt from the destinations (and the file restored by hand).
    """
    data = manifest.dumps(
        manifest.build(
            backup_id=backup.pk,
            file_name=file_name,
            database_name=database.name,
            engine=database.engine,
            created_at=backup.started_at or backup.created_at,
            size_bytes=result.size,
            sha256=result.sha256,
            compression=backup.compression,
            encryption_recipient=backup.encryption_recipient,
            trigger=backup.trigger,
        )
    )
    for pipe in result.outcomes:
        if not pipe.ok:
            continue
        storage = storages[pipe.key]
        writer = None
        try:
            writer = storage.open_writer(manifest.manifest_name(file_name))
            writer.write(data)
            writer.commit()
        except (StorageError, OSError) as exc:
            if writer is not None:
                writer.abort()
            pipe.ok = False
            pipe.error = clean_error(
                f"The manifest could not be written, so the copy was removed: {exc}", secrets
            )
            try:
                storage.delete(pipe.location)
            except StorageError as gone:
                log.warning("Backup %s: cannot remove %s: %s", backup.pk, pipe.location, gone)


def _outcome_of(result: PipelineResult, copies, secrets: list[str]) -> _Outcome:
    by_id = {copy.pk: copy for _, copy in copies}
    outcome = _Outcome(Backup.Status.FAILED, fields={"bytes_done": result.size})
    for pipe in result.outcomes:
        copy = by_id[pipe.key]
        status = BackupCopy.Status.COMPLETED if pipe.ok else BackupCopy.Status.FAILED
        copy.status = status
        copy.error = "" if pipe.ok else clean_error(pipe.error, secrets)
        outcome.copies.append((copy, status, pipe.size if pipe.ok else None, copy.error))
        if pipe.ok:
            outcome.written.append(copy)
    if result.error:
        outcome.error = clean_error(result.error, secrets)
        outcome.fields["size_bytes"] = None
        return outcome
    outcome.fields.update(size_bytes=result.size, checksum_sha256=result.sha256)
    failed = [copy for _, copy in copies if copy.status != BackupCopy.Status.COMPLETED]
    details = "; ".join(f"{c.destination_name}: {c.error}" for c in failed)
    if not failed:
        outcome.status = Backup.Status.COMPLETED
    elif len(failed) < len(copies):
        outcome.status = Backup.Status.PARTIAL
        outcome.error = clean_error(f"{len(failed)} of {len(copies)} destinations failed: {details}", secrets)
    else:
        outcome.error = clean_error(f"Every destination failed: {details}", secrets)
    return outcome


def _create_copies(backup, destinations, file_name, secrets) -> list[tuple[object, BackupCopy]]:
    """One copy row per destination, with its final location, before any byte is written.

    The worker's crash reaper finds `<location>.partial` through these rows.
    """
    copies = []
    for dest in destinations:
        try:
            location = get_storage(dest).location_for(file_name)
            error = ""
            status = BackupCopy.Status.IN_PROGRESS
        except StorageError as exc:
            location, error, status = "", clean_error(str(exc), secrets), BackupCopy.Status.FAILED
        copy, _ = BackupCopy.objects.update_or_create(
            backup=backup,
            destination=dest,
            defaults={
                "destination_name": dest.name,
                "location": location,
                "status": status,
                "size_bytes": None,
                "error": error,
            },
        )
        copies.append((dest, copy))
    return copies


def _conclude(backup: Backup, outcome: _Outcome) -> None:
    """Finish the run through the lifecycle; if it was taken over meanwhile, remove what it wrote."""

    def record_copies() -> None:
        for copy, status, size, error in outcome.copies:
            BackupCopy.objects.filter(pk=copy.pk).update(status=status, size_bytes=size, error=error)
        lifecycle.fail_unwritten_copies(backup, "Not written: the backup failed")

    if lifecycle.finish(backup, outcome.status, outcome.error, fields=outcome.fields, then=record_copies):
        for copy, status, size, error in outcome.copies:  # one line per copy, for log shippers
            log.info(
                "Backup %s: copy at %s %s%s",
                backup.pk,
                copy.destination_name,
                status,
                f" ({error})" if error else f" ({size} bytes)",
                extra={"destination": copy.destination_name, "copy_id": copy.pk, "event": "copy_finished"},
            )
        return
    # The record says failed (reaped): files it does not know as saved must not stay behind.
    for copy in outcome.written:
        try:
            storage = storage_for_copy(copy)
            storage.delete(copy.location)
            storage.delete(manifest.manifest_name(copy.location))
        except StorageError as exc:
            log.warning("Backup %s: cannot remove %s after losing the run: %s", backup.pk, copy.location, exc)
    backup.refresh_from_db()
