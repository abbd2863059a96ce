"""The destination page and the admin for s3 and sftp: kind sections, scan-and-confirm, write-only secrets."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from django.urls import reverse

from apps.destinations.admin import DestinationAdminForm
from apps.destinations.models import Destination
from apps.destinations.storage.sftp_keys import fingerprint, parse_host_key

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-Value-Never-Shown"


@pytest.fixture
def owner_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def database(make_database):
    return make_database()


def s3_form(s3, **fields):
    data = {
        "name": "bucket",
        "kind": "s3",
        "endpoint_url": s3.endpoint,
        "region": "us-east-1",
        "bucket": s3.bucket,
        "prefix": "shop",
        "access_key_id": "AK",
        "secret_access_key": SECRET,
        "path_style": "on",
        "enabled": "on",
    }
    data.update(fields)
    return data


def test_the_page_has_a_section_per_kind(owner_client, database):
    page = owner_client.get(reverse("destinations:create", args=[database.pk])).content.decode()
    assert 'data-engines="local"' in page and 'data-engines="s3"' in page and 'data-engines="sftp"' in page
    assert "data-engine-select" in page and 'name="scan_host_key"' in page


def test_an_owner_adds_an_s3_destination_and_the_secret_is_never_shown_again(owner_client, database, s3):
    response = owner_client.post(reverse("destinations:create", args=[database.pk]), s3_form(s3))
    assert response.status_code == 302, response.content.decode()[:3000]
    dest = Destination.objects.get(name="bucket")
    assert dest.kind == "s3" and dest.secret_access_key == SECRET and dest.path_style
    page = owner_client.get(reverse("destinations:update", args=[dest.pk])).content.decode()
    assert SECRET not in page and "A value is stored; leave empty to keep it." in page

    # Saving with the secret left blank keeps it.
    kept = owner_client.post(
        reverse("destinations:update", args=[dest.pk]), s3_form(s3, secret_access_key="", prefix="other")
    )
    assert kept.status_code == 302
    dest.refresh_from_db()
    assert dest.prefix == "other" and dest.secret_access_key == SECRET


def test_changing_the_bucket_in_the_form_needs_the_secret_again(owner_client, database, s3):
    owner_client.post(reverse("destinations:create", args=[database.pk]), s3_form(s3))
    dest = Destination.objects.get(name="bucket")
    response = owner_client.post(
        reverse("destinations:update", args=[dest.pk]),
        s3_form(s3, bucket="another-bucket", secret_access_key=""),
    )
    assert response.status_code == 200
    assert (
        "The bucket changed: enter the secret access key again. A stored secret is never sent to a new place."
        in response.content.decode()
    )
    assert SECRET not in response.content.decode()
    dest.refresh_from_db()
    assert dest.bucket == s3.bucket


def test_an_sftp_destination_is_added_by_scanning_and_confirming_its_host_key(owner_client, database, sftp):
    create = reverse("destinations:create", args=[database.pk])
    server = sftp.server
    form = {
        "name": "offsite",
        "kind": "sftp",
        "host": "127.0.0.1",
        "port": str(server.port),
        "username": server.user,
        "private_key": server.client_private,
        "remote_path": str(sftp.folder),
        "enabled": "on",
    }
    scanned = owner_client.post(create, {**form, "scan_host_key": "1"})
    page = scanned.content.decode()
    expected = fingerprint(parse_host_key(server.host_public)[1])
    assert scanned.status_code == 200 and expected in page and "data-scan-result" in page
    assert server.host_public.split()[1] in page  # the key is filled in, for confirmation
    assert server.client_private.splitlines()[1] not in page  # typed secrets are not sent back
    assert Destination.objects.count() == 0

    unconfirmed = owner_client.post(create, {**form, "host_key": server.host_public})
    assert unconfirmed.status_code == 200
    assert "Compare the fingerprint with the server&#x27;s and tick this box to pin the key." in (
        unconfirmed.content.decode()
    )
    assert Destination.objects.count() == 0

    confirmed = owner_client.post(create, {**form, "host_key": server.host_public, "confirm_host_key": "on"})
    assert confirmed.status_code == 302, confirmed.content.decode()[:3000]
    dest = Destination.objects.get(name="offsite")
    assert dest.kind == "sftp" and dest.path == str(sftp.folder) and dest.host_key == server.host_public
    assert dest.private_key.strip() == server.client_private.strip()

    tested = owner_client.post(reverse("destinations:test", args=[dest.pk]), follow=True)
    assert "passed: Wrote, read back and deleted a probe file at sftp://" in tested.content.decode()


def test_scanning_an_unreachable_server_says_so_and_saves_nothing(owner_client, database):
    from tests.destinations.conftest import free_port

    port = free_port()
    response = owner_client.post(
        reverse("destinations:create", args=[database.pk]),
        {"name": "x", "kind": "sftp", "host": "127.0.0.1", "port": str(port), "scan_host_key": "1"},
    )
    assert response.status_code == 200
    assert f"SFTP server unreachable: 127.0.0.1:{port} (" in response.content.decode()
    assert Destination.objects.count() == 0


def test_the_admin_keeps_secrets_write_only_and_applies_the_same_rule(database, s3):
    assert site._registry[Destination].form is DestinationAdminForm
    dest = Destination.objects.create(
        database=database, name="b", kind="s3", bucket=s3.bucket, access_key_id="AK", secret_access_key=SECRET
    )
    dest = Destination.objects.get(pk=dest.pk)
    data = {
        "database": database.pk,
        "name": "b",
        "kind": "s3",
        "enabled": "on",
        "bucket": "another-bucket",
        "access_key_id": "AK",
        "secret_access_key": "",
    }
    form = DestinationAdminForm(data=data, instance=dest)
    assert SECRET not in str(form["secret_access_key"])
    assert not form.is_valid()
    assert form.errors["secret_access_key"] == [
        "The bucket changed: enter the secret access key again. A stored secret is never sent to a new place."
    ]
    same_bucket = DestinationAdminForm(
        data={**data, "bucket": s3.bucket}, instance=Destination.objects.get(pk=dest.pk)
    )
    assert same_bucket.is_valid(), same_bucket.errors
    assert same_bucket.save().secret_access_key == SECRET
