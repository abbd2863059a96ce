"""Destination operations shared by the web UI, the API and the admin."""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError

from apps.common.masking import mask_secrets
from apps.destinations.models import Destination
from apps.destinations.paths import validate_local_path
from apps.destinations.storage import StorageError, get_storage
from apps.destinations.storage.sftp_keys import scan_host_key as _scan

PROBE_PREFIX = ".backupmanager-probe-"
PROBE_BYTES = b"BackupManager destination test\n" * 64


def prepare_local_folder(raw_path: str, group_id: int) -> str:
    """Validate a local folder of the group, create it if needed, and return its canonical path."""
    check = validate_local_path(raw_path, group_id)
    if not check.valid:
        raise ValidationError({"path": [check.message]})
    if not check.writable:
        raise ValidationError({"path": [check.message]})
    if not check.exists:
        try:
            create_local_folder(check.resolved)
        except OSError as exc:
            raise ValidationError({"path": [f"Cannot create the folder: {exc.strerror}."]}) from None
    return check.resolved


FOLDER_MODE = 0o750


def create_local_folder(path: str) -> None:
    """Create a destination folder and its missing parents, each 0750 whatever the umask.

    The one place that creates them (page, API, admin). Backups hold whole databases: only
    the server's user and group may list them. Folders that already exist keep their mode.
    """
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise
            continue
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask


def apply_secrets(destination: Destination, given: dict) -> None:
    """Set the secrets a person entered now (keys present in `given`); absent ones keep their stored value."""
    for fields in Destination.SECRET_FIELDS.values():
        for name in fields:
            if name in given and given[name] is not None:
                destination.enter_secret(name, given[name])


def save_destination(destination: Destination) -> Destination:
    """Validate (model clean: per-kind rules, no secret reused for a new place) and save.

    A local folder is checked against the group's backup folders and created.
    Raises ValidationError with per-field messages; nothing is written then.
    """
    if destination.kind == Destination.Kind.LOCAL and destination.path:
        destination.path = prepare_local_folder(destination.path, destination.database.group_id)
    destination.full_clean()
    destination.save()
    return destination


@dataclass
class TestResult:
    ok: bool
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def test_destination(destination: Destination) -> TestResult:
    """Write a small probe file, read it back, compare, and delete it; say what is wrong in words.

    Never raises for an unreachable or misconfigured destination, and never
    puts a secret in the message.
    """
    storage = None
    try:
        storage = get_storage(destination)
        name = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        location = storage.location_for(name)
        writer = storage.open_writer(name)
        try:
            writer.write(PROBE_BYTES)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        try:
            with storage.open_reader(location) as fh:
                data = fh.read(len(PROBE_BYTES) + 1)
        finally:
            storage.delete(location)
        if data != PROBE_BYTES:
            return TestResult(False, f"The probe read back from {location} differs from what was written.")
        return TestResult(True, f"Wrote, read back and deleted a probe file at {location}.")
    except StorageError as exc:
        return TestResult(False, _masked(str(exc), destination, storage))
    except OSError as exc:
        return TestResult(False, _masked(f"Reading the probe back failed: {exc}", destination, storage))


def _masked(message: str, destination: Destination, storage) -> str:
    secrets = list(storage.secrets()) if storage is not None else []
    secrets += [destination.secret_access_key, destination.password, destination.private_key]
    return mask_secrets(message, secrets)


def scan_host_key(host: str, port: int | None) -> dict:
    """Ask an SFTP server for its host key: {host_key, fingerprint}, for a person to confirm.

    Nothing is stored. Raises ValidationError for a bad host/port and
    StorageError (with a message) when the server cannot be reached.
    """
    probe = Destination(kind=Destination.Kind.SFTP, host=host or "", port=port or 22)
    errors = {}
    try:
        probe.clean_fields(
            exclude=[f.name for f in Destination._meta.fields if f.name not in ("host", "port")]
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)

    def collect(field, message):
        if field in ("host", "port"):
            errors.setdefault(field, []).append(message)

    probe._clean_sftp(collect)
    if errors:
        raise ValidationError(errors)
    host_key, fingerprint = _scan(probe.host, probe.port or 22)
    return {"host_key": host_key, "fingerprint": fingerprint}
