"""New users' walks through the product in Chromium, against a running site: `runserver`
plus a real `runscheduler` worker process on one metadata database (see conftest.py).
Everything is done through the pages; the tests look at the disk, never at the database."""

from __future__ import annotations

import re
import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSWORD = "a-long-passphrase-for-ui"


def backup_files(folder: Path) -> list[Path]:
    """The backup files in a destination folder (each has a .manifest.json beside it)."""
    return sorted(p for p in folder.iterdir() if not p.name.endswith(".manifest.json"))


def make_shop(path: Path) -> Path:
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, cents INTEGER)")
        db.executemany(
            "INSERT INTO orders (item, cents) VALUES (?, ?)", [(f"item {i} ☕", i * 99) for i in range(500)]
        )
    db.close()
    return path


def register(page, site, username: str) -> None:
    page.goto(site.url + "/accounts/register/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"Welcome, {username}")


def create_group(page, name: str, site=None) -> GroupFolders | None:
    """Create a group from the pages; with `site`, return its own folders (made here, 0750)."""
    page.get_by_role("link", name="Groups").click()
    page.get_by_role("link", name="New group").click()
    page.fill("#id_name", name)
    page.get_by_role("button", name="Create group").click()
    expect(page.locator(".messages")).to_contain_text(f"Group “{name}” created")
    if site is None:
        return None
    group_id = int(re.search(r"/groups/(\d+)/", page.url).group(1))
    folders = GroupFolders(site.sqlite_root / f"group-{group_id}", site.root / f"group-{group_id}")
    for folder in (folders.sqlite, folders.backups):
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    return folders


@dataclass
class GroupFolders:
    """A group's own folders on the site (apps.groups.locations: <root>/group-<id>)."""

    sqlite: Path
    backups: Path


def add_sqlite_database(page, name: str, path: Path) -> str:
    """From a group page: add a SQLite database after a passing connection test; return its page URL."""
    page.get_by_role("link", name="Add database").first.click()
    page.select_option("#id_engine", "sqlite")
    expect(page.locator("#id_host")).to_be_hidden()
    expect(page.locator("label[for=id_database_name]")).to_have_text("SQLite file path")
    page.fill("#id_name", name)
    page.fill("#id_database_name", str(path))
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_contain_text("Connection works.")
    page.get_by_role("button", name="Add database").click()
    expect(page.locator(".messages")).to_contain_text(f"Database “{name}” added.")
    return page.url


def add_destination(page, root: Path, name: str) -> None:
    """On a database page: name a destination and choose its folder with the picker."""
    form = page.locator("form[data-path-form]")
    form.locator("#id_name").fill(name)
    form.get_by_role("button", name="Browse…").click()
    picker = form.locator("[data-picker]")
    picker.locator(f"button[data-browse='{root}']").click()
    picker.locator(f"button[data-browse='{root / name}']").click()
    expect(picker.locator(".picker-head strong")).to_have_text(str(root / name))
    picker.get_by_role("button", name="Use this folder").click()
    expect(form.locator("[data-path-input]")).to_have_value(str(root / name))
    status = form.locator("[data-path-status]")
    expect(status.locator("[data-path-valid]")).to_contain_text("exists")
    expect(status).to_contain_text("writable")
    expect(status).to_contain_text("free")
    form.get_by_role("button", name="Add destination").click()
    expect(page.locator(".messages")).to_contain_text(f"Destination “{name}” added")


def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_now(page) -> int:
    page.get_by_role("button", name="Run backup now").click()
    message = page.locator(".messages")
    expect(message).to_contain_text("queued for")
    return int(re.search(r"Backup #(\d+)", message.inner_text()).group(1))


def test_a_new_user_backs_up_a_sqlite_database_to_two_folders_with_the_real_worker_process(
    site, new_page, tmp_path, screenshots
):
    page = new_page()
    register(page, site, "newbie")
    folders = create_group(page, "Shop team", site)
    (folders.backups / "disk-a").mkdir()
    (folders.backups / "disk-b").mkdir()
    shop = make_shop(folders.sqlite / "shop.sqlite3")

    # A failing connection test is shown inline, and testing saves nothing.
    page.get_by_role("link", name="Add database").first.click()
    page.select_option("#id_engine", "sqlite")
    page.fill("#id_database_name", str(folders.sqlite / "missing.sqlite3"))
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_contain_text("Connection failed.")
    page.goto(site.url + "/databases/")
    expect(page.locator("main")).to_contain_text("No databases")
    page.goto(site.url + "/groups/")
    page.get_by_role("link", name="Shop team").click()
    db_url = add_sqlite_database(page, "shop", shop)

    for name in ("disk-a", "disk-b"):
        add_destination(page, folders.backups, name)

    # An every-minute schedule with its live preview; then paused, so only our run happens.
    page.get_by_role("link", name="Add schedule").click()
    page.fill("#id_name", "every minute")
    page.get_by_label("Every minute").check()
    expect(page.locator("[data-preview-run]")).to_have_count(5)
    expect(page.locator("#schedule-preview")).to_contain_text("* * * * *")
    page.get_by_role("button", name="Add schedule").click()
    expect(page.locator(".messages")).to_contain_text("Schedule “every minute” saved (every minute, next run")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".messages")).to_contain_text("paused")

    # Run now; the row reaches completed with two ✓ by itself — the page is never reloaded.
    backup_id = run_now(page)
    expect(page.locator(".messages")).to_contain_text("queued for 2 destinations")
    page.evaluate("window.__sameDocument = true")
    row = page.locator(f"#backup-{backup_id}")
    expect(row).to_have_attribute("data-status", "completed", timeout=45_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    expect(row.locator("[data-copy=saved]")).to_have_count(2)
    expect(row.locator("[data-status-badge]")).to_have_text("Completed")
    files = {name: backup_files(folders.backups / name) for name in ("disk-a", "disk-b")}
    assert all(len(found) == 1 and found[0].is_file() for found in files.values()), files
    assert all(Path(f"{found[0]}.manifest.json").is_file() for found in files.values())
    copies = {name: found[0] for name, found in files.items()}
    assert copies["disk-a"].read_bytes() == copies["disk-b"].read_bytes()

    # Download the whole backup (menu opened from the keyboard), then disk-b's copy.
    for label, source in (("Whole backup", copies["disk-a"]), ("Copy at disk-b", copies["disk-b"])):
        row.locator("summary", has_text="Download").focus()
        page.keyboard.press("Enter")
        with page.expect_download() as info:
            row.get_by_role("link", name=re.compile(label)).click()
        saved = tmp_path / f"download-{label.replace(' ', '-')}"
        info.value.save_as(saved)
        assert saved.read_bytes() == source.read_bytes()
        assert info.value.suggested_filename == source.name
        page.keyboard.press("Escape")

    # One copy disappears from disk: Verify shows ⚠ on that copy and the banner.
    copies["disk-a"].unlink()
    row.get_by_role("button", name=f"Verify backup #{backup_id}").click()
    expect(page.locator(".messages")).to_contain_text(f"Verification of backup #{backup_id} queued")
    # The worker re-reads the copies; the activity poll brings the result without a reload.
    expect(page.locator("[data-verifications]")).to_contain_text(
        "1 of 2 copies have a problem", timeout=15000
    )
    expect(page.locator("[data-missing-banner]")).to_be_visible()
    missing = page.locator(f"#backup-{backup_id} [data-copy=missing]")
    expect(missing).to_have_count(1)
    expect(missing).to_contain_text("⚠")
    expect(missing).to_contain_text("disk-a")
    page.screenshot(path=str(screenshots / "database-detail.png"), full_page=True)
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("svg.chart rect")).to_have_count(1)
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    # At 375 px the database page fits the screen (wide tables scroll inside their panels).
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(db_url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(screenshots / "database-detail-375px.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Delete the backup with its files, after a confirmation that says so.
    page.goto(db_url)
    row = page.locator(f"#backup-{backup_id}")
    row.locator("summary", has_text="Delete").click()
    row.get_by_role("link", name="Delete the record and its files…").click()
    expect(page.locator("[data-delete-files]")).to_contain_text("This deletes the record and its files.")
    expect(page.locator("[data-delete-files]")).to_contain_text(str(copies["disk-b"]))
    page.get_by_role("button", name="Delete record and files").click()
    expect(page.locator(".messages")).to_contain_text(f"Backup #{backup_id} and its files deleted")
    expect(page.locator(f"#backup-{backup_id}")).to_have_count(0)
    assert list((folders.backups / "disk-a").iterdir()) == []  # the manifests went too
    assert list((folders.backups / "disk-b").iterdir()) == []
    assert page.js_errors == []


def test_a_viewer_sees_backups_but_no_run_download_delete_or_restore(site, new_page, tmp_path, screenshots):
    owner = new_page()
    register(owner, site, "olive")
    folders = create_group(owner, "Ops", site)
    (folders.backups / "ledger").mkdir()
    db_url = add_sqlite_database(owner, "ledger", make_shop(folders.sqlite / "ledger.sqlite3"))
    add_destination(owner, folders.backups, "ledger")
    backup_id = run_now(owner)

    viewer = new_page()
    register(viewer, site, "vera")
    owner.get_by_role("link", name="Groups").click()
    owner.get_by_role("link", name="Ops").click()
    owner.fill("#id_username", "vera")
    owner.select_option("#id_role", "viewer")
    owner.get_by_role("button", name="Add member").click()
    expect(owner.locator(".messages")).to_contain_text("vera added to “Ops” as viewer.")

    # The owner adds a webhook channel: a bad URL is refused inline, the test message reports
    # the refused connection, and the viewer sees the channel without its path or any action.
    group_url = owner.url.split("#")[0]
    hook = f"http://127.0.0.1:{refused_port()}/hooks/ops-token-123"
    form = owner.locator("form[data-channel-form]")
    form.locator("#id_channel_kind").select_option("webhook")
    form.locator("#id_channel_target").fill("hooks.example.com/x")
    form.get_by_label("No recent backup").uncheck()
    form.get_by_role("button", name="Add channel").click()
    expect(owner.locator("#field-target .errorlist")).to_have_text(
        "Enter an http:// or https:// URL for the webhook."
    )
    owner.locator("#id_channel_target").fill(hook)
    expect(owner.get_by_label("No recent backup")).not_to_be_checked()
    owner.get_by_role("button", name="Add channel").click()
    expect(owner.locator(".messages")).to_contain_text(
        f"Notifications added: webhook channel to {hook} for failed, partial, recovered, anomaly, drill_failed, digest."
    )
    owner.get_by_role("button", name=f"Send a test message to {hook}").click()
    expect(owner.locator(".messages")).to_contain_text(f"The test message to {hook} failed:")
    expect(owner.locator("table.channels")).to_contain_text("failed")
    owner.screenshot(path=str(screenshots / "group-detail.png"), full_page=True)
    viewer.goto(group_url)
    channels = viewer.locator("#notifications table.channels")
    expect(channels).to_contain_text("http://127.0.0.1/…")
    expect(channels).not_to_contain_text("ops-token-123")
    expect(viewer.locator("#notifications").get_by_role("button")).to_have_count(0)

    viewer.goto(db_url)
    row = viewer.locator(f"#backup-{backup_id}")
    expect(row).to_have_attribute("data-status", "completed", timeout=45_000)
    expect(row.locator("[data-copy=saved]")).to_have_count(1)
    main = viewer.locator("main")
    for name in ("Run backup now", "Download", "Delete", "Restore", "Verify", "Edit", "Test connection"):
        expect(main.get_by_role("button", name=name)).to_have_count(0)
        expect(main.get_by_role("link", name=name, exact=True)).to_have_count(0)
    # No action menu (Download, Delete); the chart's table of values may fold.
    expect(main.locator("details.menu > summary")).to_have_count(0)
    # The server refuses what the page does not offer.
    status = viewer.evaluate(
        """async (url) => {
            const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
            const r = await fetch(url, {method: 'POST', headers: {'X-CSRFToken': token}});
            return r.status;
        }""",
        f"/backups/{backup_id}/verify/",
    )
    assert status == 403
    download = viewer.request.get(f"{site.url}/backups/{backup_id}/download/")
    assert download.status == 403
    assert viewer.js_errors == [] and owner.js_errors == []


# --- PostgreSQL: backup and restore through the pages ----------------------------------


@pytest.fixture
def pg_role(pg_server):
    """A login role of our own with a distinctive password, owning a fresh source database (a table
    with a few rows) and an empty target database; all dropped afterwards."""
    import secrets

    import psycopg2

    def connect(dbname="postgres", **login):
        login = login or {"user": pg_server["user"], "password": pg_server["password"]}
        conn = psycopg2.connect(host=pg_server["host"], port=pg_server["port"], dbname=dbname, **login)
        conn.autocommit = True  # CREATE/DROP DATABASE refuse to run inside a transaction
        return conn

    tag = secrets.token_hex(4)
    role = {
        "user": f"bm_ui_{tag}",
        "password": f"ui-pg-{secrets.token_hex(12)}",
        "source": f"bm_ui_shop_{tag}",
        "target": f"bm_ui_copy_{tag}",
        "connect": connect,
    }
    admin = connect()
    with admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role["user"]}" LOGIN PASSWORD %s', [role["password"]])
        for name in (role["source"], role["target"]):
            cur.execute(f'CREATE DATABASE "{name}" OWNER "{role["user"]}"')
    source = connect(role["source"], user=role["user"], password=role["password"])
    with source.cursor() as cur:
        cur.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, cents integer)")
        cur.executemany(
            "INSERT INTO orders (item, cents) VALUES (%s, %s)", [(f"order {i} ☕", i * 99) for i in range(5)]
        )
    source.close()
    try:
        yield role
    finally:
        with admin.cursor() as cur:
            for name in (role["source"], role["target"]):
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    [name],
                )
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute(f'DROP ROLE IF EXISTS "{role["user"]}"')
        admin.close()


def add_postgres_database(page, pg_server, role, name: str, dbname: str) -> str:
    """From a group page: add a PostgreSQL database after a passing connection test; return its URL."""
    page.get_by_role("link", name="Add database").first.click()
    page.select_option("#id_engine", "postgresql")
    expect(page.locator("#id_host")).to_be_visible()
    page.fill("#id_name", name)
    page.fill("#id_host", pg_server["host"])
    page.fill("#id_port", str(pg_server["port"]))
    page.fill("#id_database_name", dbname)
    page.fill("#id_username", role["user"])
    page.fill("#id_password", role["password"])
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result [data-connection-ok]")).to_contain_text("Connection works.")
    expect(page.locator("#connection-result")).to_contain_text("PostgreSQL")
    assert role["password"] not in page.content()
    page.get_by_role("button", name="Add database").click()
    expect(page.locator(".messages")).to_contain_text(f"Database “{name}” added.")
    assert role["password"] not in page.content()
    return page.url


def test_a_postgresql_database_is_backed_up_and_restored_into_another_through_the_pages(
    site, new_page, pg_server, pg_role
):
    page = new_page()
    register(page, site, "paula")
    folders = create_group(page, "Postgres team", site)
    (folders.backups / "pg-disk").mkdir()
    group_url = page.url

    source_url = add_postgres_database(page, pg_server, pg_role, "shop-pg", pg_role["source"])
    add_destination(page, folders.backups, "pg-disk")

    # The saved connection works from the database page too.
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result [data-connection-ok]")).to_contain_text("Connection works.")

    backup_id = run_now(page)
    page.evaluate("window.__sameDocument = true")
    row = page.locator(f"#backup-{backup_id}")
    expect(row).to_have_attribute("data-status", "completed", timeout=25_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    expect(row.locator("[data-copy=saved]")).to_have_count(1)
    expect(row.locator("[data-copy=saved]")).to_contain_text("✓")
    saved = backup_files(folders.backups / "pg-disk")
    assert len(saved) == 1 and saved[0].name.endswith(".dump.zst"), saved

    # A second registered PostgreSQL database is the restore target.
    page.goto(group_url)
    target_url = add_postgres_database(page, pg_server, pg_role, "shop-pg-copy", pg_role["target"])

    page.goto(source_url)
    page.locator(f"#backup-{backup_id}").get_by_role("link", name="Restore").click()
    expect(page.locator("h1")).to_have_text(f"Restore backup #{backup_id}")
    target_option = page.locator("#id_target option", has_text="shop-pg-copy")
    page.select_option("#id_target", target_option.get_attribute("value"))
    expect(page.locator("[data-confirm-hint]")).to_have_text(pg_role["target"])
    # The wrong name is refused inline, and nothing is queued.
    page.fill("#id_confirm", pg_role["source"])
    page.get_by_role("button", name="Restore").click()
    expect(page.locator(".field.has-error")).to_contain_text("Type the target's database name exactly")
    page.fill("#id_confirm", pg_role["target"])
    page.get_by_role("button", name="Restore").click()
    message = page.locator(".messages")
    expect(message).to_contain_text(f"of backup #{backup_id} into shop-pg-copy queued")
    restore_id = int(re.search(r"Restore #(\d+)", message.inner_text()).group(1))
    # The restore's own page follows it while it runs (polled, not reloaded).
    assert page.url == f"{site.url}/restores/{restore_id}/"
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#restore-status [data-status-badge]")).to_have_text("Completed", timeout=25_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    page.goto(target_url)
    restore_row = page.locator(f"#restore-{restore_id}")
    expect(restore_row).to_have_attribute("data-status", "completed")
    expect(restore_row).to_contain_text("Completed")

    target = pg_role["connect"](pg_role["target"], user=pg_role["user"], password=pg_role["password"])
    with target.cursor() as cur:
        cur.execute("SELECT id, item, cents FROM orders ORDER BY id")
        rows = cur.fetchall()
    target.close()
    assert rows == [(i + 1, f"order {i} ☕", i * 99) for i in range(5)]

    # The password is stored but never sent back: not on any page that shows the databases.
    for url in (
        source_url,
        target_url,
        source_url + "edit/",
        group_url,
        site.url + "/databases/",
        site.url + "/",
    ):
        page.goto(url)
        assert pg_role["password"] not in page.content(), url
    assert page.js_errors == []
