"""A real SQLite backup to a local folder, an S3 bucket (moto) and an SFTP server (sshd) at once."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest

from apps.backups import runner
from apps.backups import services as backup_services
from apps.backups.models import Backup, BackupCopy
from apps.backups.verification import verify_now
from apps.destinations.models import Destination
from apps.destinations.storage import S3Storage, StorageLocked, get_storage
from apps.destinations.storage.s3_common import MIN_PART
from tests.backups.conftest import make_sqlite_file
from tests.destinations.conftest import MotoServer, s3_client

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-Value-Never-Shown"


@pytest.fixture
def sqlite_database(make_database, tmp_path):
    path = make_sqlite_file(tmp_path / "source.sqlite3")
    return make_database(name="Orders DB", database_name=str(path))


def add_s3(database, endpoint: str, bucket: str, **fields) -> Destination:
    values = {
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "bucket": bucket,
        "prefix": "shop",
        "access_key_id": "AK",
        "secret_access_key": SECRET,
        "path_style": True,
    }
    values.update(fields)
    return Destination.objects.create(database=database, name=f"s3-{bucket}", kind="s3", **values)


def add_sftp(database, sftp, **fields) -> Destination:
    d = sftp.destination(**fields)
    return Destination.objects.create(
        database=database,
        name="sftp",
        kind="sftp",
        host=d.host,
        port=d.port,
        username=d.username,
        private_key=d.private_key,
        host_key=d.host_key,
        path=d.path,
    )


def read_all(storage, location: str) -> bytes:
    with storage.open_reader(location) as fh:
        return fh.read()


def test_one_backup_goes_to_local_s3_and_sftp_and_every_copy_verifies(
    sqlite_database, make_destination, s3, sftp
):
    local = make_destination(sqlite_database, name="local")
    bucket = add_s3(sqlite_database, s3.endpoint, s3.bucket)
    remote = add_sftp(sqlite_database, sftp)

    backup = runner.run_backup(Backup.objects.create(database=sqlite_database, trigger=Backup.Trigger.MANUAL))

    assert backup.status == Backup.Status.COMPLETED, backup.error
    copies = {c.destination_id: c for c in backup.copies.all()}
    assert {c.status for c in copies.values()} == {BackupCopy.Status.COMPLETED}
    assert copies[bucket.pk].location == f"s3://{s3.bucket}/shop/{backup.file_name}"
    assert copies[remote.pk].location == (
        f"sftp://{sftp.server.user}@127.0.0.1:{sftp.server.port}{sftp.folder}/{backup.file_name}"
    )
    local_bytes = open(copies[local.pk].location, "rb").read()
    assert hashlib.sha256(local_bytes).hexdigest() == backup.checksum_sha256
    assert read_all(get_storage(bucket), copies[bucket.pk].location) == local_bytes
    assert (sftp.folder / backup.file_name).read_bytes() == local_bytes
    assert backup.file_name in os.listdir(sftp.folder)
    assert not [name for name in os.listdir(sftp.folder) if name.endswith(".partial")]
    meta = S3Storage(bucket).metadata(copies[bucket.pk].location)
    assert meta == {"bm-sha256": backup.checksum_sha256, "bm-size": str(backup.size_bytes)}

    verification = verify_now(backup)
    assert verification.ok is True
    assert {r["status"] for r in verification.results} == {"ok"}
    assert len(verification.results) == 3


def test_downloads_from_s3_and_sftp_are_streamed_with_ranges(sqlite_database, s3, sftp, api_client):
    bucket = add_s3(sqlite_database, s3.endpoint, s3.bucket)
    remote = add_sftp(sqlite_database, sftp)
    backup = runner.run_backup(Backup.objects.create(database=sqlite_database, trigger=Backup.Trigger.MANUAL))
    assert backup.status == Backup.Status.COMPLETED, backup.error
    whole = (sftp.folder / backup.file_name).read_bytes()

    for dest in (bucket, remote):
        copy, fh, size = backup_services.open_copy_for_download(backup, dest.pk)
        with fh:
            assert size == len(whole) and fh.read() == whole
        response = api_client.get(
            f"/api/backups/{backup.pk}/download?destination_id={dest.pk}", HTTP_RANGE="bytes=100-199"
        )
        assert response.status_code == 206
        assert b"".join(response.streaming_content) == whole[100:200]
        assert response["Content-Range"] == f"bytes 100-199/{len(whole)}"


def test_a_corrupt_object_and_a_corrupt_remote_file_verify_as_corrupt(sqlite_database, s3, sftp):
    bucket = add_s3(sqlite_database, s3.endpoint, s3.bucket)
    add_sftp(sqlite_database, sftp)
    backup = runner.run_backup(Backup.objects.create(database=sqlite_database, trigger=Backup.Trigger.MANUAL))
    assert backup.status == Backup.Status.COMPLETED, backup.error
    key = f"shop/{backup.file_name}"
    data = bytearray(s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0xFF
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body=bytes(data))
    path = sftp.folder / backup.file_name
    path.write_bytes(path.read_bytes()[:-1])

    results = {r["destination_id"]: r for r in verify_now(backup).results}
    assert results[bucket.pk]["status"] == "corrupt"
    assert results[bucket.pk]["message"] == f"Copy at s3://{s3.bucket}/{key} is corrupt: sha256 differs"
    sftp_result = next(r for pk, r in results.items() if pk != bucket.pk)
    assert sftp_result["status"] == "corrupt" and "size" in sftp_result["message"]


def test_a_missing_bucket_fails_its_copy_in_words_and_the_others_complete(
    sqlite_database, make_destination, s3, sftp
):
    make_destination(sqlite_database, name="local")
    missing = add_s3(sqlite_database, s3.endpoint, "no-such-bucket-y")
    add_sftp(sqlite_database, sftp)
    backup = runner.run_backup(Backup.objects.create(database=sqlite_database, trigger=Backup.Trigger.MANUAL))

    assert backup.status == Backup.Status.PARTIAL
    copy = backup.copies.get(destination=missing)
    assert copy.status == BackupCopy.Status.FAILED
    assert f"S3 no such bucket: 'no-such-bucket-y' does not exist at {s3.endpoint}" in copy.error
    assert backup.copies.filter(status=BackupCopy.Status.COMPLETED).count() == 2
    assert SECRET not in backup.error + copy.error


def big_sqlite(path, megabytes: int) -> str:
    """A SQLite file of random (incompressible) blobs, so the dump spans several S3 parts."""
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
        db.executemany(
            "INSERT INTO blobs (data) VALUES (?)", [(os.urandom(1 << 20),) for _ in range(megabytes)]
        )
    db.close()
    return str(path)


def test_an_s3_server_stopped_mid_upload_fails_only_its_copy(
    sqlite_database, make_database, make_destination, sftp, tmp_path, monkeypatch
):
    from apps.destinations.storage.s3_writer import S3Writer

    database = make_database(name="big", database_name=big_sqlite(tmp_path / "big.sqlite3", 20))
    server = MotoServer(tmp_path / "moto.log")
    try:
        s3_client(server.endpoint).create_bucket(Bucket="stopping")
        make_destination(database, name="local")
        dying = add_s3(database, server.endpoint, "stopping")
        add_sftp(database, sftp)

        flush = S3Writer._flush_part

        def flush_then_stop(writer):
            flush(writer)
            if len(writer._parts) == 1:
                server.stop()  # the first part is in; the server dies before the second

        monkeypatch.setattr(S3Writer, "_flush_part", flush_then_stop)
        backup = runner.run_backup(Backup.objects.create(database=database, trigger=Backup.Trigger.MANUAL))
    finally:
        server.stop()

    assert backup.size_bytes > 2 * MIN_PART
    assert backup.status == Backup.Status.PARTIAL, backup.error
    copy = backup.copies.get(destination=dying)
    assert copy.status == BackupCopy.Status.FAILED
    assert f"S3 endpoint unreachable: {server.endpoint} did not answer" in copy.error
    assert SECRET not in copy.error
    others = backup.copies.exclude(destination=dying)
    assert {c.status for c in others} == {BackupCopy.Status.COMPLETED}
    assert (sftp.folder / backup.file_name).stat().st_size == backup.size_bytes


def test_a_backup_under_object_lock_is_kept_with_its_date_when_deleted(sqlite_database, moto_server):
    client = s3_client(moto_server.endpoint)
    client.create_bucket(Bucket="bm-lock-backups", ObjectLockEnabledForBucket=True)
    dest = add_s3(
        sqlite_database, moto_server.endpoint, "bm-lock-backups", lock_mode="compliance", lock_days=1
    )
    backup = runner.run_backup(Backup.objects.create(database=sqlite_database, trigger=Backup.Trigger.MANUAL))
    assert backup.status == Backup.Status.COMPLETED, backup.error
    location = backup.copies.get().location

    with pytest.raises(StorageLocked) as info:
        get_storage(dest).delete(location)
    assert info.value.until is not None
    result = backup_services.delete_backup(backup, delete_files=True)

    assert result.deleted is False
    assert Backup.objects.filter(pk=backup.pk).exists()
    copy = backup.copies.get()
    assert f"is locked until {info.value.until:%Y-%m-%d %H:%M} UTC" in copy.error
    assert [r["status"] for r in result.results] == ["locked"]
    assert copy.locked_until == info.value.until  # retention leaves it alone until then
    assert get_storage(dest).exists(location)
