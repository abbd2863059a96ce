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

import hashlib
import io
import math
import re
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

from apps.destinations.storage.base import (
    Storage,
    StorageError,
    StorageLocked,
    StorageMissing,
    StorageUnreachable,
    Writer,
)

MiB = 1 << 20
GiB = 1 << 30
MIN_PART = 8 * MiB
# S3 allows 5 GiB per part; a part may exceed its target by one pipeline chunk.
MAX_PART = 5 * GiB - 64 * MiB
PARTS_PER_STEP = 500
MAX_PARTS = 10_000
# CopyObject copies at most 5 GiB; larger objects are copied part by part.
MAX_COPY = 5 * GiB
META_SHA256 = "bm-sha256"
META_SIZE = "bm-size"
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
MAX_ATTEMPTS = 3

_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
    "InvalidSecurity",
}
_LOCK_WORDS = re.compile(r"WORM|retention|object lock|legal hold|locked", re.IGNORECASE)


def part_size_for(part_number: int) -> int:
    """Return the target size of part `part_number` (1-based) of a multipart upload.

    8 MiB for parts 1-500, doubling every 500 parts, never above MAX_PART; the
    10 000 parts together hold far more than S3's largest object (5 TiB).
    """
    step = (part_number - 1) // PARTS_PER_STEP
    return min(MAX_PART, MIN_PART << min(step, 20))


def _client(destination: Any) -> Any:
    """A boto3 S3 client for a destination, with timeouts, bounded retries and checksums only when required."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=destination.region or "us-east-1",
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        # Non-AWS servers (MinIO, Ceph, R2, B2, moto) reject or mishandle the
        # CRC trailers boto3 adds by default since 1.36.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path" if destination.path_style else "auto"},
        user_agent_extra="BackupManager",
    )
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=destination.endpoint_url or None,
        aws_access_key_id=destination.access_key_id or None,
        aws_secret_access_key=destination.secret_access_key or None,
        config=config,
    )


def _endpoint_label(destination: Any) -> str:
    return str(destination.endpoint_url or "AWS S3")


def describe_s3_error(
    exc: BaseException, action: str, destination: Any, bucket: str, key: str = ""
) -> StorageError:
    """Turn a boto3/botocore exception into a StorageError subclass with a message for people.

    The message names the endpoint, bucket and action, never a secret.
    """
    from botocore import exceptions as bce

    endpoint = _endpoint_label(destination)
    where = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
    if isinstance(
        exc,
        (
            bce.EndpointConnectionError,
            bce.ConnectTimeoutError,
            bce.ReadTimeoutError,
            bce.ConnectionClosedError,
            bce.ProxyConnectionError,
        ),
    ):
        return StorageUnreachable(
            f"S3 endpoint unreachable: {endpoint} did not answer ({type(exc).__name__})"
        )
    if isinstance(exc, bce.NoCredentialsError):
        return StorageError("S3 bad credentials: no access key is set")
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        server_message = str(error.get("Message", ""))[:200]
        if code in _BAD_CREDENTIALS:
            return StorageError(
                f"S3 bad credentials: {endpoint} refused the access key or secret key ({code})"
            )
        if code == "NoSuchBucket":
            return StorageUnreachable(f"S3 no such bucket: {bucket!r} does not exist at {endpoint}")
        if code in ("NoSuchKey", "NotFound", "404") or (status == 404 and key):
            return StorageMissing(f"File {where} is missing")
        if code in ("AccessDenied", "403", "Forbidden") or status == 403:
            if _LOCK_WORDS.search(server_message):
                return StorageLocked(f"{where} is locked (Object Lock): {server_message}")
            return StorageError(f"S3 access denied on {action} for {where}")
        if code == "InvalidBucketName":
            return StorageError(f"S3 invalid bucket name {bucket!r}")
        detail = f"{code}: {server_message}" if server_message else code or f"HTTP {status}"
        return StorageError(f"S3 {action} failed for {where}: {detail}")
    if isinstance(exc, bce.BotoCoreError):
        return StorageUnreachable(f"S3 {action} failed at {endpoint}: {type(exc).__name__}")
    return StorageError(f"S3 {action} failed for {where}: {type(exc).__name__}")


def _lock_kwargs(destination: Any, now: datetime | None = None) -> dict[str, Any]:
    mode = getattr(destination, "lock_mode", None)
    if not mode:
        return {}
    days = int(destination.lock_days or 0)
    until = (now or datetime.now(UTC)) + timedelta(days=days)
    return {"ObjectLockMode": mode.upper(), "ObjectLockRetainUntilDate": until}


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
