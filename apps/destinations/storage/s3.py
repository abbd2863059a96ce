"""S3-compatible buckets (AWS, MinIO, Ceph, R2, B2, Wasabi, ...) through boto3.

Writing streams the pipeline's chunks into a multipart upload, buffering one
part at a time: memory per destination is one part, whatever the dump size.
Parts start at 8 MiB and double every 500 parts (capped below S3's 5 GiB), so
the 10 000-part limit is never reached before ~29 TiB. Nothing is visible at
the final key until CompleteMultipartUpload; any failure or abort calls
AbortMultipartUpload, so no invisible half-upload is left billed in the
bucket. A file smaller than one part is sent with a single PutObject.

The object carries its size and sha256 as metadata (`x-amz-meta-bm-size`,
`x-amz-meta-bm-sha256`). Metadata is fixed when an upload starts, before the
hash is known, so a multipart upload is completed first and then copied onto
itself with the metadata (server-side, no bytes travel through us); on a
versioned bucket the version without metadata is then deleted. With Object
Lock (`lock_mode`), a single PutObject carries the retention headers; a
multipart object gets its retention (PutObjectRetention) on the version that
stays, and is deleted again if that fails.

Reading is streamed (`S3Reader`, a file-like object over GetObject's body):
seek() before reading turns into an HTTP Range, so a ranged download fetches
only what was asked.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

from apps.destinations.storage.base import (
    Storage,
    StorageError,
    StorageLocked,
    StorageMissing,
    StorageUnreachable,
)
from apps.destinations.storage.s3_common import (
    _client,
    describe_s3_error,
)
from apps.destinations.storage.s3_writer import S3Writer


class S3Reader(io.RawIOBase):
    """A read-only, seekable stream over one object; GetObject is sent lazily from the current offset.

    seek() followed by read() fetches with `Range: bytes=<offset>-`, so a
    ranged download passes its range through to the server.
    """

    def __init__(self, storage: S3Storage, bucket: str, key: str, size: int, version_id: str | None) -> None:
        super().__init__()
        self._storage = storage
        self._bucket = bucket
        self._key = key
        self._size = size
        self._version_id = version_id
        self._pos = 0
        self._body: Any = None

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError("negative seek position")
        if target != self._pos:
            self._close_body()
            self._pos = target
        return self._pos

    def _open_body(self) -> None:
        kwargs = {"Bucket": self._bucket, "Key": self._key}
        if self._version_id:
            kwargs["VersionId"] = self._version_id
        if self._pos:
            kwargs["Range"] = f"bytes={self._pos}-"
        try:
            self._body = self._storage.client.get_object(**kwargs)["Body"]
        except Exception as exc:
            error = describe_s3_error(exc, "GetObject", self._storage.destination, self._bucket, self._key)
            raise OSError(str(error)) from exc

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if self._pos >= self._size or len(buffer) == 0:
            return 0
        if self._body is None:
            self._open_body()
        try:
            data = self._body.read(len(buffer))
        except Exception as exc:
            self._close_body()
            error = describe_s3_error(exc, "GetObject", self._storage.destination, self._bucket, self._key)
            raise OSError(str(error)) from exc
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def _close_body(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            try:
                body.close()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        self._close_body()
        super().close()


class S3Storage(Storage):
    """A bucket (and optional prefix) on an S3-compatible server."""

    kind = "s3"

    def __init__(self, destination: Any) -> None:
        super().__init__(destination)
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _client(self.destination)
        return self._client

    @property
    def bucket(self) -> str:
        return str(self.destination.bucket)

    def key_for(self, file_name: str) -> str:
        if "/" in file_name or file_name in ("", ".", ".."):
            raise StorageError(f"Invalid file name {file_name!r}")
        prefix = (self.destination.prefix or "").strip("/")
        return f"{prefix}/{file_name}" if prefix else file_name

    def location_for_key(self, key: str, bucket: str | None = None) -> str:
        return f"s3://{bucket or self.bucket}/{key}"

    def location_for(self, file_name: str) -> str:
        return self.location_for_key(self.key_for(file_name))

    def parse_location(self, location: str) -> tuple[str, str]:
        """Return (bucket, key) of `s3://bucket/key`; StorageMissing/StorageUnreachable when it is not one."""
        if not location:
            raise StorageMissing("No file was recorded for this copy")
        parts = urlsplit(location)
        key = parts.path.lstrip("/")
        if parts.scheme != "s3" or not parts.netloc or not key or parts.query or parts.fragment:
            raise StorageUnreachable(f"{location!r} is not an s3://bucket/key location")
        return parts.netloc, key

    def open_writer(self, file_name: str) -> S3Writer:
        if not self.bucket:
            raise StorageError("The S3 destination has no bucket")
        return S3Writer(self, self.key_for(file_name))

    def _head(self, bucket: str, key: str) -> dict[str, Any]:
        try:
            return cast("dict[str, Any]", self.client.head_object(Bucket=bucket, Key=key))
        except Exception as exc:
            raise describe_s3_error(exc, "HeadObject", self.destination, bucket, key) from exc

    def open_reader(self, location: str) -> BinaryIO:
        bucket, key = self.parse_location(location)
        head = self._head(bucket, key)
        reader = S3Reader(self, bucket, key, int(head["ContentLength"]), head.get("VersionId"))
        return cast(BinaryIO, reader)

    def size(self, location: str) -> int:
        bucket, key = self.parse_location(location)
        return int(self._head(bucket, key)["ContentLength"])

    def metadata(self, location: str) -> dict[str, str]:
        """The object's BackupManager metadata: {"bm-sha256": ..., "bm-size": ...} (empty if none)."""
        bucket, key = self.parse_location(location)
        return dict(self._head(bucket, key).get("Metadata") or {})

    def exists(self, location: str) -> bool:
        try:
            self.size(location)
        except StorageMissing:
            return False
        return True

    def delete(self, location: str) -> None:
        """Delete the object (its current version); StorageLocked while Object Lock retains it.

        On a versioned bucket the version itself is deleted, not hidden behind
        a delete marker, so the bytes are really gone.
        """
        bucket, key = self.parse_location(location)
        try:
            head = self._head(bucket, key)
        except StorageMissing:
            return
        until = head.get("ObjectLockRetainUntilDate")
        if until is not None and until > datetime.now(UTC):
            raise StorageLocked(
                f"{location} is locked until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
                f"(Object Lock, {str(head.get('ObjectLockMode', '')).lower() or 'retention'})",
                until=until,
            )
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            raise StorageLocked(f"{location} is under an Object Lock legal hold")
        kwargs = {"VersionId": head["VersionId"]} if head.get("VersionId") else {}
        try:
            self.client.delete_object(Bucket=bucket, Key=key, **kwargs)
        except Exception as exc:
            error = describe_s3_error(exc, "DeleteObject", self.destination, bucket, key)
            if isinstance(error, StorageMissing):
                return
            raise error from exc

    def cleanup_partial(self, location: str) -> bool:
        """Abort multipart uploads left at this key by a crashed run; True if one was aborted."""
        if not location:
            return False
        bucket, key = self.parse_location(location)
        aborted = False
        try:
            listing = self.client.list_multipart_uploads(Bucket=bucket, Prefix=key)
            for upload in listing.get("Uploads", []):
                if upload.get("Key") == key:
                    self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
                    aborted = True
        except Exception as exc:
            raise describe_s3_error(exc, "ListMultipartUploads", self.destination, bucket, key) from exc
        return aborted

    def list_locations(self, suffix: str = "") -> list[str]:
        prefix = (self.destination.prefix or "").strip("/")
        prefix = f"{prefix}/" if prefix else ""
        found: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    if key.endswith(suffix) and key != prefix:
                        found.append(self.location_for_key(key))
        except Exception as exc:
            raise describe_s3_error(exc, "ListObjectsV2", self.destination, self.bucket) from exc
        return sorted(found)

    def secrets(self) -> list[str]:
        return [s for s in (self.destination.secret_access_key,) if s]
