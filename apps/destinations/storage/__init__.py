"""Writers and readers per destination kind: local folders, S3-compatible buckets, SFTP servers.

A *storage* knows how to reach one Destination. The backup pipeline asks it
for a `Writer` per backup file; verify, download, restore and delete ask it
for readers, sizes and deletions. Kinds register in `STORAGES`, keyed by
`Destination.kind`; every kind has the same methods (see `base.Storage`).
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

from apps.destinations.storage.base import (
    FILE_MODE,
    PARTIAL_SUFFIX,
    Storage,
    StorageError,
    StorageLocked,
    StorageMissing,
    StorageUnreachable,
    Writer,
    describe_oserror,
)
from apps.destinations.storage.local import LocalStorage, LocalWriter
from apps.destinations.storage.s3 import S3Storage
from apps.destinations.storage.s3_common import part_size_for
from apps.destinations.storage.s3_writer import S3Writer
from apps.destinations.storage.sftp import SFTPStorage, SFTPWriter
from apps.destinations.storage.sftp_keys import parse_host_key, parse_private_key

__all__ = [
    "FILE_MODE",
    "PARTIAL_SUFFIX",
    "STORAGES",
    "LocalStorage",
    "LocalWriter",
    "S3Storage",
    "S3Writer",
    "SFTPStorage",
    "SFTPWriter",
    "Storage",
    "StorageError",
    "StorageLocked",
    "StorageMissing",
    "StorageUnreachable",
    "Writer",
    "describe_oserror",
    "get_storage",
    "parse_host_key",
    "parse_private_key",
    "part_size_for",
    "storage_for_copy",
]

STORAGES: dict[str, type[Storage]] = {
    "local": LocalStorage,
    "s3": S3Storage,
    "sftp": SFTPStorage,
}


def get_storage(destination: Any) -> Storage:
    """Return the storage for a Destination; StorageError for a kind not supported yet."""
    try:
        cls = STORAGES[destination.kind]
    except KeyError:
        raise StorageError(f"Destinations of kind {destination.kind!r} are not supported yet") from None
    return cls(destination)


def storage_for_copy(copy: Any) -> Storage:
    """Return the storage holding a backup copy, even when its Destination row was deleted.

    `copy` has `destination` (or None), `location` and `destination_name`.
    """
    if copy.destination is not None:
        return get_storage(copy.destination)
    if copy.location and os.path.isabs(copy.location):
        # The destination is gone but the file may not be: reach it as a local folder.
        return LocalStorage(SimpleNamespace(path=os.path.dirname(copy.location), kind="local"))
    raise StorageUnreachable(f"The destination {copy.destination_name!r} was removed")
