"""The destinations API for s3 and sftp: write-only secrets, per-kind rules, re-entered secrets, test and scan."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.destinations.models import Destination
from apps.destinations.storage.sftp_keys import fingerprint, parse_host_key
from tests.destinations.conftest import ed25519_pair, free_port

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-Value-Never-Shown"


@pytest.fixture
def database(make_database):
    return make_database()


def url(database, suffix=""):
    return f"/api/databases/{database.id}/destinations/{suffix}"


def s3_body(s3, **fields):
    body = {
        "name": "bucket",
        "kind": "s3",
        "endpoint_url": s3.endpoint,
        "region": "us-east-1",
        "bucket": s3.bucket,
        "prefix": "backups/shop",
        "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": SECRET,
        "path_style": True,
    }
    body.update(fields)
    return body


def sftp_body(sftp, **fields):
    d = sftp.destination()
    body = {
        "name": "offsite",
        "kind": "sftp",
        "host": d.host,
        "port": d.port,
        "username": d.username,
        "private_key": d.private_key,
        "host_key": d.host_key,
        "path": d.path,
    }
    body.update(fields)
    return body


def raw_column(pk: int, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM destinations_destination WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_an_s3_destination_is_created_with_its_secret_write_only_and_encrypted_at_rest(
    api_client, database, s3
):
    response = api_client.post(url(database), s3_body(s3), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["has_secret"] is True and "secret_access_key" not in body
    assert body["bucket"] == s3.bucket and body["prefix"] == "backups/shop" and body["lock_mode"] is None
    assert SECRET not in response.content.decode()
    dest = Destination.objects.get(pk=body["id"])
    assert dest.secret_access_key == SECRET
    stored = raw_column(dest.pk, "secret_access_key")
    assert stored.startswith("fernet:") and SECRET not in stored
    listing = api_client.get(url(database))
    assert SECRET not in listing.content.decode() and listing.json()[0]["has_secret"] is True


def test_an_sftp_destination_is_created_with_its_key_write_only(api_client, database, sftp):
    response = api_client.post(url(database), sftp_body(sftp), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["has_private_key"] is True and body["has_password"] is False
    assert "private_key" not in body and "password" not in body
    assert body["port"] == sftp.server.port and body["host_key"] == sftp.server.host_public
    key_line = sftp.server.client_private.splitlines()[1]
    assert key_line not in response.content.decode()
    assert key_line not in raw_column(body["id"], "private_key")


def test_changing_the_bucket_needs_the_secret_again(api_client, database, s3):
    pk = api_client.post(url(database), s3_body(s3), format="json").json()["id"]

    moved = api_client.patch(url(database, f"{pk}"), {"bucket": "elsewhere-bucket"}, format="json")
    assert moved.status_code == 400
    assert moved.json() == {
        "secret_access_key": [
            "The bucket changed: enter the secret access key again. A stored secret is never sent to a new place."
        ]
    }
    assert Destination.objects.get(pk=pk).bucket == s3.bucket

    endpoint = api_client.patch(
        url(database, f"{pk}"), {"endpoint_url": "http://10.0.0.9:9000"}, format="json"
    )
    assert (
        endpoint.status_code == 400 and "The endpoint_url changed" in endpoint.json()["secret_access_key"][0]
    )

    renamed = api_client.patch(url(database, f"{pk}"), {"name": "renamed", "prefix": "other"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["has_secret"] is True

    again = api_client.patch(
        url(database, f"{pk}"),
        {"bucket": "elsewhere-bucket", "secret_access_key": "new-secret"},
        format="json",
    )
    assert again.status_code == 200, again.content
    dest = Destination.objects.get(pk=pk)
    assert dest.bucket == "elsewhere-bucket" and dest.secret_access_key == "new-secret"


def test_changing_the_sftp_host_port_or_user_needs_the_key_again(api_client, database, sftp):
    pk = api_client.post(url(database), sftp_body(sftp), format="json").json()["id"]
    for change in ({"host": "backup.example.org"}, {"port": 2222}, {"username": "other"}):
        response = api_client.patch(url(database, f"{pk}"), change, format="json")
        assert response.status_code == 400, change
        field = next(iter(change))
        assert response.json() == {
            "private_key": [
                f"The {field} changed: enter the private key again. A stored secret is never sent to a new place."
            ]
        }
    assert Destination.objects.get(pk=pk).host == "127.0.0.1"
    new_private, _ = ed25519_pair()
    ok = api_client.patch(url(database, f"{pk}"), {"port": 2222, "private_key": new_private}, format="json")
    assert ok.status_code == 200 and ok.json()["port"] == 2222


def test_the_same_rule_holds_in_the_model_for_every_door(database, s3):
    from django.core.exceptions import ValidationError

    dest = Destination.objects.create(
        database=database,
        name="b",
        kind="s3",
        bucket=s3.bucket,
        access_key_id="AK",
        secret_access_key=SECRET,
    )
    dest = Destination.objects.get(pk=dest.pk)
    dest.bucket = "another-bucket"
    with pytest.raises(ValidationError) as info:
        dest.full_clean()
    assert "enter the secret access key again" in info.value.message_dict["secret_access_key"][0]
    dest.enter_secret("secret_access_key", "fresh")
    dest.full_clean()


@pytest.mark.parametrize(
    "fields, errors",
    [
        (
            {"bucket": "Bad_Bucket"},
            {
                "bucket": [
                    "A bucket name has 3-63 lowercase letters, digits, dots or hyphens, starts and ends with a letter or digit, and is not an IP address."
                ]
            },
        ),  # noqa: E501
        (
            {"bucket": "10.0.0.1"},
            {
                "bucket": [
                    "A bucket name has 3-63 lowercase letters, digits, dots or hyphens, starts and ends with a letter or digit, and is not an IP address."
                ]
            },
        ),  # noqa: E501
        (
            {"prefix": "a/../b"},
            {
                "prefix": [
                    "The prefix is a folder-like path such as backups/shop, without “..” or empty parts."
                ]
            },
        ),  # noqa: E501
        (
            {"endpoint_url": "ftp://example.org"},
            {"endpoint_url": ["Enter an http:// or https:// URL, or leave it empty for AWS."]},
        ),  # noqa: E501
        (
            {"endpoint_url": "http://user:pw@example.org"},
            {"endpoint_url": ["The endpoint URL must not carry a user, password, query or fragment."]},
        ),  # noqa: E501
        (
            {"lock_mode": "governance"},
            {"lock_days": ["Object Lock needs the number of days to keep each backup (1 or more)."]},
        ),  # noqa: E501
        (
            {"lock_days": 5},
            {"lock_days": ["Days of Object Lock need a lock mode (governance or compliance)."]},
        ),
        ({"lock_mode": "forever", "lock_days": 5}, {"lock_mode": ['"forever" is not a valid choice.']}),
        (
            {"lock_days": 0, "lock_mode": "governance"},
            {"lock_days": ["Ensure this value is greater than or equal to 1."]},
        ),  # noqa: E501
        ({"access_key_id": ""}, {"access_key_id": ["Enter the access key ID."]}),
    ],
)
def test_bad_s3_settings_are_refused_with_exact_messages_and_nothing_is_written(
    api_client, database, s3, fields, errors
):
    response = api_client.post(url(database), s3_body(s3, **fields), format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert Destination.objects.count() == 0


@pytest.mark.parametrize(
    "fields, errors",
    [
        ({"host": "user@host"}, {"host": ["Enter a host name or an IP address (no user, port or path)."]}),
        ({"port": 0}, {"port": ["Ensure this value is greater than or equal to 1."]}),
        ({"port": 70000}, {"port": ["Ensure this value is less than or equal to 65535."]}),
        (
            {"host_key": "not a key"},
            {
                "host_key": [
                    "Not a host key: expected a known_hosts line such as “ssh-ed25519 AAAA…” (types: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521)."
                ]
            },
        ),  # noqa: E501
        ({"host_key": ""}, {"host_key": ["Scan the server's host key and confirm its fingerprint."]}),
        (
            {"private_key": "garbage"},
            {
                "private_key": [
                    "Not a private key BackupManager can read (OpenSSH or PEM, Ed25519, ECDSA or RSA): SSHException."
                ]
            },
        ),  # noqa: E501
        ({"private_key": ""}, {"password": ["Enter a password or a private key."]}),
        (
            {"path": "relative/dir"},
            {"path": ["Enter the absolute folder on the server, e.g. /home/backup/shop."]},
        ),
        ({"path": "/srv/../etc"}, {"path": ["The folder must not contain “..”."]}),
        ({"kind": "ftp"}, {"kind": ['"ftp" is not a valid choice.']}),
    ],
)
def test_bad_sftp_settings_are_refused_with_exact_messages_and_nothing_is_written(
    api_client, database, sftp, fields, errors
):
    response = api_client.post(url(database), sftp_body(sftp, **fields), format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert Destination.objects.count() == 0


def test_a_local_destination_without_a_path_is_a_400_not_a_500(api_client, database):
    response = api_client.post(url(database), {"name": "x"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"path": ["This field is required for a local destination."]}


def test_the_test_button_writes_reads_and_deletes_a_probe(api_client, database, s3, sftp):
    s3_pk = api_client.post(url(database), s3_body(s3), format="json").json()["id"]
    sftp_pk = api_client.post(url(database), sftp_body(sftp), format="json").json()["id"]

    result = api_client.post(url(database, f"{s3_pk}/test"), format="json")
    assert result.status_code == 200
    assert result.json()["ok"] is True, result.json()
    assert result.json()["message"].startswith(
        f"Wrote, read back and deleted a probe file at s3://{s3.bucket}/"
    )
    assert s3.client.list_objects_v2(Bucket=s3.bucket).get("KeyCount") == 0

    result = api_client.post(url(database, f"{sftp_pk}/test"), format="json").json()
    assert result["ok"] is True and "sftp://" in result["message"]
    assert list(sftp.folder.iterdir()) == []


def test_the_test_button_says_what_is_wrong_without_the_secret(api_client, database, s3, sftp):
    missing = api_client.post(url(database), s3_body(s3, bucket="no-such-bucket-x"), format="json").json()[
        "id"
    ]
    result = api_client.post(url(database, f"{missing}/test"), format="json")
    assert result.status_code == 200
    assert result.json()["ok"] is False
    assert result.json()["message"].startswith(
        "Cannot finalise s3://no-such-bucket-x/backups/shop/.backupmanager-probe-"
    )
    assert result.json()["message"].endswith(
        f": S3 no such bucket: 'no-such-bucket-x' does not exist at {s3.endpoint}"
    )
    _, other_public = ed25519_pair()
    changed = api_client.post(url(database), sftp_body(sftp, host_key=other_public), format="json").json()[
        "id"
    ]
    result = api_client.post(url(database, f"{changed}/test"), format="json").json()
    assert result["ok"] is False and "SFTP host key changed" in result["message"]
    assert SECRET not in str(result)


def test_scan_host_key_returns_the_key_and_fingerprint_and_stores_nothing(api_client, database, sftp):
    response = api_client.post(
        url(database, "scan-host-key"), {"host": "127.0.0.1", "port": sftp.server.port}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {
        "host_key": sftp.server.host_public,
        "fingerprint": fingerprint(parse_host_key(sftp.server.host_public)[1]),
    }
    assert Destination.objects.count() == 0


def test_scan_host_key_refuses_bad_input_and_names_an_unreachable_server(api_client, database):
    bad = api_client.post(url(database, "scan-host-key"), {"host": "a b", "port": 22}, format="json")
    assert bad.status_code == 400
    assert bad.json() == {"host": ["Enter a host name or an IP address (no user, port or path)."]}
    port = api_client.post(url(database, "scan-host-key"), {"host": "h", "port": 0}, format="json")
    assert port.status_code == 400 and port.json() == {
        "port": ["Ensure this value is greater than or equal to 1."]
    }
    closed = free_port()
    down = api_client.post(
        url(database, "scan-host-key"), {"host": "127.0.0.1", "port": closed}, format="json"
    )
    assert down.status_code == 400
    assert down.json()["detail"].startswith(f"SFTP server unreachable: 127.0.0.1:{closed} (")


def test_viewers_cannot_test_or_scan(other_client, other_user, database, group, s3):
    from apps.accounts.models import Membership

    dest = Destination.objects.create(
        database=database, name="b", kind="s3", bucket=s3.bucket, access_key_id="AK", secret_access_key=SECRET
    )
    Membership.objects.create(user=other_user, group=group, role=Membership.Role.VIEWER)
    assert other_client.post(url(database, f"{dest.pk}/test"), format="json").status_code == 403
    scan = other_client.post(url(database, "scan-host-key"), {"host": "127.0.0.1"}, format="json")
    assert scan.status_code == 403
