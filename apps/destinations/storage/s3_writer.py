"""Writing an S3 copy: a streamed multipart upload (or one PUT when small), its metadata and lock."""

from __future__ import annotations

import hashlib
import math
from base64 import b64encode
from typing import TYPE_CHECKING, Any, cast

from apps.destinations.storage.base import (
    StorageError,
    Writer,
)
from apps.destinations.storage.s3_common import (
    MAX_COPY,
    MAX_PARTS,
    META_SHA256,
    META_SIZE,
    GiB,
    _lock_kwargs,
    describe_s3_error,
    part_size_for,
)

if TYPE_CHECKING:
    from apps.destinations.storage.s3 import S3Storage


class S3Writer(Writer):
    """Stream one file into `s3://bucket/key` as a multipart upload, one part in memory at a time."""

    def __init__(self, storage: S3Storage, key: str) -> None:
        self.storage = storage
        self.destination = storage.destination
        self.bucket = storage.bucket
        self.key = key
        self.location = storage.location_for_key(key)
        self.failed = None
        self.size = 0
        self._client = storage.client
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False
        self._locked = bool(getattr(self.destination, "lock_mode", None))

    # -- writing -----------------------------------------------------------

    def write(self, chunk: bytes) -> None:
        if self.failed:
            raise StorageError(self.failed)
        self._buffer += chunk
        self._hash.update(chunk)
        self.size += len(chunk)
        if len(self._buffer) >= part_size_for(len(self._parts) + 1):
            self._flush_part()

    def _flush_part(self) -> None:
        try:
            if self._upload_id is None:
                response = self._client.create_multipart_upload(
                    Bucket=self.bucket, Key=self.key, ContentType="application/octet-stream"
                )
                self._upload_id = response["UploadId"]
            number = len(self._parts) + 1
            if number > MAX_PARTS:
                raise StorageError(f"{self.location} would need more than {MAX_PARTS} parts")
            extra = {}
            if self._locked:
                # Buckets with Object Lock need an integrity header on every upload request.
                extra["ContentMD5"] = b64encode(hashlib.md5(self._buffer).digest()).decode()
            response = self._client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=self._buffer,  # botocore takes a bytearray: no 8 MiB copy per part
                **extra,
            )
            self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
            self._buffer = bytearray()
        except StorageError as exc:
            self.failed = str(exc)
            raise
        except Exception as exc:
            error = describe_s3_error(exc, "UploadPart", self.destination, self.bucket, self.key)
            self.failed = f"Cannot write {self.location}: {error}"
            raise type(error)(self.failed) from exc

    # -- finishing ---------------------------------------------------------

    def _metadata(self) -> dict[str, str]:
        return {META_SHA256: self._hash.hexdigest(), META_SIZE: str(self.size)}

    def commit(self) -> None:
        if self.failed:
            raise StorageError(self.failed)
        try:
            if self._upload_id is None:
                self._put_whole()
            else:
                self._complete_and_describe()
        except StorageError as exc:
            self.failed = str(exc)
            self.abort()
            raise
        except Exception as exc:
            error = describe_s3_error(exc, "CompleteMultipartUpload", self.destination, self.bucket, self.key)
            self.failed = f"Cannot finalise {self.location}: {error}"
            self.abort()
            raise type(error)(self.failed) from exc
        self._done = True

    def _put_whole(self) -> None:
        body = self._buffer  # (no copy: the buffer is replaced, never changed, after this)
        extra = _lock_kwargs(self.destination)
        if extra:
            extra["ContentMD5"] = b64encode(hashlib.md5(body).digest()).decode()
        self._client.put_object(
            Bucket=self.bucket,
            Key=self.key,
            Body=body,
            ContentType="application/octet-stream",
            Metadata=self._metadata(),
            **extra,
        )
        self._buffer = bytearray()

    def _complete_and_describe(self) -> None:
        if self._buffer or not self._parts:
            self._flush_part()
        completed = self._client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None
        first_version = completed.get("VersionId")
        try:
            new_version = copy_onto_itself(self._client, self.bucket, self.key, self.size, self._metadata())
        except BaseException:
            # The object is there without its metadata: a failed copy must not leave it.
            self._delete_quietly(first_version)
            raise
        if first_version and new_version and new_version != first_version:
            # Versioned bucket: the copy is a new version; drop the one without metadata.
            self._delete_quietly(first_version)
        lock = _lock_kwargs(self.destination)
        if lock:
            # Retention goes on the version that stays (PutObjectRetention carries the
            # Content-MD5 that Object Lock requires; a copy has no body to hash).
            try:
                self._client.put_object_retention(
                    Bucket=self.bucket,
                    Key=self.key,
                    Retention={
                        "Mode": lock["ObjectLockMode"],
                        "RetainUntilDate": lock["ObjectLockRetainUntilDate"],
                    },
                    **({"VersionId": new_version} if new_version else {}),
                )
            except BaseException:
                # Never leave an unprotected object recorded as a locked backup.
                self._delete_quietly(new_version)
                raise

    def _delete_quietly(self, version_id: str | None) -> None:
        kwargs = {"VersionId": version_id} if version_id else {}
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.key, **kwargs)
        except Exception:  # noqa: BLE001 - best effort; the caller reports the real error
            pass

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the server may be gone; cleanup_partial retries
                pass


def copy_onto_itself(client: Any, bucket: str, key: str, size: int, metadata: dict[str, str]) -> str | None:
    """Replace an object's metadata by a server-side copy onto itself (part by part above 5 GiB).

    Return the new version's id on a versioned bucket, else None.
    """
    source = {"Bucket": bucket, "Key": key}
    if size <= MAX_COPY:
        response = client.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource=source,
            Metadata=metadata,
            MetadataDirective="REPLACE",
            ContentType="application/octet-stream",
        )
        return cast("str | None", response.get("VersionId"))
    upload_id = client.create_multipart_upload(
        Bucket=bucket, Key=key, Metadata=metadata, ContentType="application/octet-stream"
    )["UploadId"]
    try:
        step = max(GiB, math.ceil(size / (MAX_PARTS - 1)))
        parts = []
        for number, start in enumerate(range(0, size, step), start=1):
            end = min(size, start + step) - 1
            response = client.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={start}-{end}",
            )
            parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})
        response = client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:  # noqa: BLE001
            pass
        raise
    return cast("str | None", response.get("VersionId"))
