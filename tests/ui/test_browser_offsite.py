"""A walk in Chromium: an owner adds an S3 bucket (moto) and an SFTP server (sshd, host key scanned
and confirmed), runs a backup with the real worker process and sees both copies saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.destinations.storage.sftp_keys import fingerprint, parse_host_key
from tests.destinations.conftest import MotoServer, SSHServer, s3_client
from tests.ui.test_browser import add_sqlite_database, create_group, make_shop, register, run_now

pytestmark = pytest.mark.browser

SECRET = "browser-s3-secret-value"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory):
    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def test_an_owner_adds_s3_and_sftp_destinations_and_a_backup_reaches_both(
    site,
    new_page,
    tmp_path,
    s3_server,
    ssh_server,
):
    s3_client(s3_server.endpoint).create_bucket(Bucket="browser-walk")
    remote = ssh_server.remote / "browser-walk"
    page = new_page()
    register(page, site, "offsite")
    folders = create_group(page, "Offsite team", site)
    add_sqlite_database(page, "shop", make_shop(folders.sqlite / "shop.sqlite3"))
    database_url = page.url

    # S3: only the S3 fields show once the kind is chosen.
    page.get_by_role("link", name="Off-site: an S3 bucket or an SFTP server…").click()
    page.fill("#id_name", "bucket")
    page.select_option("#id_kind", "s3")
    expect(page.locator("#id_bucket")).to_be_visible()
    expect(page.locator("#id_host")).to_be_hidden()
    expect(page.locator("#id_path")).to_be_hidden()
    page.fill("#id_endpoint_url", s3_server.endpoint)
    page.fill("#id_bucket", "browser-walk")
    page.fill("#id_prefix", "shop")
    page.fill("#id_access_key_id", "AKIDBROWSER")
    page.fill("#id_secret_access_key", SECRET)
    page.check("#id_path_style")
    page.get_by_role("button", name="Add destination").click()
    expect(page.locator(".messages")).to_contain_text(
        "Destination “bucket” added: backups will be written to s3://browser-walk/shop."
    )
    assert SECRET not in page.content()

    # SFTP: scan the host key, compare the fingerprint, confirm, then save.
    page.get_by_role("link", name="Off-site: an S3 bucket or an SFTP server…").click()
    page.fill("#id_name", "remote")
    page.select_option("#id_kind", "sftp")
    expect(page.locator("#id_bucket")).to_be_hidden()
    page.fill("#id_host", "127.0.0.1")
    page.fill("#id_port", str(ssh_server.port))
    page.get_by_role("button", name="Scan host key").click()
    expected = fingerprint(parse_host_key(ssh_server.host_public)[1])
    expect(page.locator("[data-scan-result]")).to_contain_text(expected)
    expect(page.locator("#id_host_key")).to_have_value(ssh_server.host_public)
    expect(page.locator("#id_kind")).to_have_value("sftp")
    page.fill("#id_username", ssh_server.user)
    page.fill("#id_remote_path", str(remote))
    page.fill("#id_private_key", ssh_server.client_private)
    page.get_by_role("button", name="Add destination").click()
    expect(page.locator("#field-confirm_host_key .errorlist")).to_contain_text("tick this box")
    page.fill("#id_private_key", ssh_server.client_private)  # never sent back to the page
    page.check("#id_confirm_host_key")
    page.get_by_role("button", name="Add destination").click()
    expect(page.locator(".messages")).to_contain_text("Destination “remote” added")

    page.goto(database_url)
    backup_id = run_now(page)
    row = page.locator(f"#backup-{backup_id}")
    expect(row).to_have_attribute("data-status", "completed", timeout=45_000)
    expect(row.locator("[data-copy=saved]")).to_have_count(2)
    files = sorted(p.name for p in remote.iterdir())
    assert any(name.endswith(".sqlite3.zst") for name in files), files
    objects = s3_client(s3_server.endpoint).list_objects_v2(Bucket="browser-walk", Prefix="shop/")
    assert any(o["Key"].endswith(".sqlite3.zst") for o in objects.get("Contents", [])), objects
