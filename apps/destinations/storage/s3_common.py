"""S3 destinations' shared pieces: part sizes, the botocore client, errors in words, Object Lock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from apps.destinations.storage.base import (
    StorageError,
    StorageLocked,
    StorageMissing,
    StorageUnreachable,
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
