"""S3Storage against moto's standalone server: a real HTTP S3 endpoint, boto3 unchanged."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest

from apps.destinations.storage import (
    S3Storage,
    StorageError,
    StorageLocked,
    StorageMissing,
    StorageUnreachable,
    get_storage,
)
from apps.destinations.storage.s3_common import MAX_PART, MAX_PARTS, MIN_PART, part_size_for
from tests.destinations.conftest import MotoServer, free_port, s3_client

SECRET = "s3cr3t-Value-Never-Shown"


def write(storage, name: str, data: bytes, chunk: int = 1 << 20) -> str:
    writer = storage.open_writer(name)
    for i in range(0, len(data), chunk):
        writer.write(data[i : i + chunk])
    writer.commit()
    return writer.location


def test_a_file_round_trips_through_a_bucket_with_its_sha256_and_size_as_metadata(s3):
    storage = get_storage(s3.destination())
    assert isinstance(storage, S3Storage)
    data = os.urandom(3 * (1 << 20) + 123)
    location = write(storage, "shop_1.dump.zst", data)

    assert location == f"s3://{s3.bucket}/backups/shop/shop_1.dump.zst"
    assert storage.location_for("shop_1.dump.zst") == location
    assert storage.exists(location) and storage.size(location) == len(data)
    with storage.open_reader(location) as fh:
        assert fh.read() == data
    head = s3.client.head_object(Bucket=s3.bucket, Key="backups/shop/shop_1.dump.zst")
    assert head["Metadata"] == {"bm-sha256": hashlib.sha256(data).hexdigest(), "bm-size": str(len(data))}

    storage.delete(location)
    assert not storage.exists(location)
    storage.delete(location)  # already gone: not an error
    with pytest.raises(StorageMissing, match="is missing"):
        storage.open_reader(location)


def test_a_multipart_upload_is_completed_with_metadata_and_nothing_left_open(s3):
    storage = get_storage(s3.destination())
    data = os.urandom(MIN_PART * 2 + 5000)
    location = write(storage, "big.dump", data)

    assert storage.size(location) == len(data)
    meta = storage.metadata(location)
    assert meta == {"bm-sha256": hashlib.sha256(data).hexdigest(), "bm-size": str(len(data))}
    with storage.open_reader(location) as fh:
        assert hashlib.sha256(fh.read()).digest() == hashlib.sha256(data).digest()
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


def test_a_reader_seeks_with_an_http_range(s3):
    storage = get_storage(s3.destination())
    data = bytes(range(256)) * 4096
    location = write(storage, "ranged.dump", data)
    with storage.open_reader(location) as fh:
        with pytest.raises(OSError):
            fh.fileno()  # download falls back to storage.size()
        fh.seek(1000)
        assert fh.read(10) == data[1000:1010]
        fh.seek(-5, os.SEEK_END)
        assert fh.read() == data[-5:]


def test_an_aborted_writer_leaves_no_object_and_no_open_upload(s3):
    storage = get_storage(s3.destination())
    writer = storage.open_writer("aborted.dump")
    writer.write(os.urandom(MIN_PART + 10))  # one part uploaded
    assert len(s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])) == 1
    writer.abort()
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert not storage.exists(writer.location)


def test_a_writer_whose_upload_fails_aborts_its_multipart_upload(s3):
    storage = get_storage(s3.destination())
    writer = storage.open_writer("fails.dump")
    writer.write(os.urandom(MIN_PART + 10))
    upload_id = writer._upload_id
    # The next part goes to an upload id the server does not know: UploadPart fails.
    writer._upload_id = "no-such-upload"
    with pytest.raises(StorageError, match="Cannot write"):
        writer.write(os.urandom(MIN_PART + 10))
    writer._upload_id = upload_id
    writer.abort()
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


def test_cleanup_partial_aborts_uploads_a_crashed_run_left(s3):
    storage = get_storage(s3.destination())
    key = "backups/shop/crashed.dump"
    s3.client.create_multipart_upload(Bucket=s3.bucket, Key=key)
    location = storage.location_for("crashed.dump")
    assert storage.cleanup_partial(location) is True
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert storage.cleanup_partial(location) is False


def test_a_missing_bucket_is_named_in_words(s3):
    storage = get_storage(s3.destination(bucket="no-such-bucket-here"))
    writer = storage.open_writer("x.dump")
    writer.write(b"hello")
    with pytest.raises(StorageUnreachable) as info:
        writer.commit()
    assert "no such bucket: 'no-such-bucket-here' does not exist" in str(info.value)
    assert SECRET not in str(info.value)


def test_an_unreachable_endpoint_is_named_in_words():
    from types import SimpleNamespace

    port = free_port()
    destination = SimpleNamespace(
        kind="s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="",
        bucket="b-ucket",
        prefix="",
        access_key_id="AK",
        secret_access_key=SECRET,
        path_style=True,
        lock_mode=None,
        lock_days=None,
    )
    storage = get_storage(destination)
    with pytest.raises(StorageUnreachable) as info:
        storage.size("s3://b-ucket/x")
    assert f"S3 endpoint unreachable: http://127.0.0.1:{port} did not answer" in str(info.value)
    assert SECRET not in str(info.value)


def test_bad_credentials_and_access_denied_are_told_apart_without_the_secret(s3):
    # moto accepts any credentials: the classification is checked on the server's error answer.
    from botocore.exceptions import ClientError

    from apps.destinations.storage.s3_common import describe_s3_error

    def client_error(code, status):
        return ClientError(
            {"Error": {"Code": code, "Message": "nope"}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "PutObject",
        )

    destination = s3.destination()
    bad = describe_s3_error(client_error("InvalidAccessKeyId", 403), "PutObject", destination, s3.bucket)
    assert str(bad) == (
        f"S3 bad credentials: {s3.endpoint} refused the access key or secret key (InvalidAccessKeyId)"
    )
    denied = describe_s3_error(client_error("AccessDenied", 403), "PutObject", destination, s3.bucket, "k")
    assert str(denied) == f"S3 access denied on PutObject for s3://{s3.bucket}/k"
    assert SECRET not in str(bad) + str(denied)


def test_an_object_under_object_lock_cannot_be_deleted_and_says_until_when(moto_server):
    client = s3_client(moto_server.endpoint)
    bucket = "bm-locked-bucket"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    from types import SimpleNamespace as NS

    destination = NS(
        kind="s3",
        endpoint_url=moto_server.endpoint,
        region="us-east-1",
        bucket=bucket,
        prefix="",
        access_key_id="AK",
        secret_access_key=SECRET,
        path_style=True,
        lock_mode="governance",
        lock_days=3,
    )
    storage = get_storage(destination)
    before = datetime.now(UTC)
    location = write(storage, "locked.dump", b"keep me" * 1000)
    head = client.head_object(Bucket=bucket, Key="locked.dump")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert before + timedelta(days=3) - timedelta(minutes=1) < until < before + timedelta(days=3, minutes=5)

    with pytest.raises(StorageLocked) as info:
        storage.delete(location)
    assert str(info.value).startswith(
        f"{location} is locked until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )
    assert info.value.until == until
    assert storage.exists(location)


def test_part_sizes_grow_so_a_10_tb_stream_fits_in_10000_parts():
    total, part, sizes = 10 * 10**12, 0, []
    while total > 0:
        part += 1
        size = part_size_for(part)
        sizes.append(size)
        total -= size
    assert part < MAX_PARTS
    assert sizes[0] == MIN_PART == 8 << 20
    assert all(5 << 20 <= s <= MAX_PART < 5 << 30 for s in sizes)
    assert sizes == sorted(sizes)
    # A 1 GB dump keeps 8 MiB parts: memory stays one part per destination.
    assert {part_size_for(n) for n in range(1, 130)} == {MIN_PART}
    assert sum(part_size_for(n) for n in range(1, MAX_PARTS + 1)) > 5 * 2**40


def test_a_server_stopped_mid_upload_fails_the_writer_with_its_reason(tmp_path):
    server = MotoServer(tmp_path / "moto.log")
    try:
        client = s3_client(server.endpoint)
        client.create_bucket(Bucket="stopping")
        from types import SimpleNamespace as NS

        destination = NS(
            kind="s3",
            endpoint_url=server.endpoint,
            region="",
            bucket="stopping",
            prefix="",
            access_key_id="AK",
            secret_access_key=SECRET,
            path_style=True,
            lock_mode=None,
            lock_days=None,
        )
        writer = get_storage(destination).open_writer("x.dump")
        writer.write(os.urandom(MIN_PART + 1))
    finally:
        server.stop()
    with pytest.raises(StorageUnreachable) as info:
        writer.write(os.urandom(MIN_PART + 1))
    writer.abort()  # the server is gone: abort must not raise
    assert f"S3 endpoint unreachable: {server.endpoint} did not answer" in str(info.value)
    assert SECRET not in str(info.value)


def test_a_multipart_upload_under_object_lock_leaves_one_locked_version_with_metadata(moto_server):
    from types import SimpleNamespace as NS

    client = s3_client(moto_server.endpoint)
    bucket = "bm-locked-multipart"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    destination = NS(
        kind="s3",
        endpoint_url=moto_server.endpoint,
        region="us-east-1",
        bucket=bucket,
        prefix="",
        access_key_id="AK",
        secret_access_key=SECRET,
        path_style=True,
        lock_mode="compliance",
        lock_days=2,
    )
    storage = get_storage(destination)
    data = os.urandom(MIN_PART + 1000)
    location = write(storage, "big-locked.dump", data)

    versions = client.list_object_versions(Bucket=bucket, Prefix="big-locked.dump").get("Versions", [])
    assert len(versions) == 1  # the upload without metadata was replaced, not kept beside
    head = client.head_object(Bucket=bucket, Key="big-locked.dump")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["Metadata"]["bm-sha256"] == hashlib.sha256(data).hexdigest()
    with pytest.raises(StorageLocked, match="is locked until"):
        storage.delete(location)


def test_list_locations_names_the_finished_files_under_the_prefix(s3):
    storage = get_storage(s3.destination())
    a = write(storage, "a.dump", b"a")
    write(storage, "a.dump.manifest.json", b"{}")
    s3.client.put_object(Bucket=s3.bucket, Key="backups/shop/deeper/b.dump", Body=b"b")
    s3.client.put_object(Bucket=s3.bucket, Key="elsewhere.dump", Body=b"c")
    assert storage.list_locations() == [a, a + ".manifest.json"]
    assert storage.list_locations(".manifest.json") == [a + ".manifest.json"]
