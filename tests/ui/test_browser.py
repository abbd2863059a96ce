"""A new user's walk through the product in Chromium, against a live server and a real
`runscheduler` worker process (see conftest.py)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from apps.accounts.models import Membership
from apps.backups.models import Backup, BackupCopy
from apps.databases.models import Database
from tests.ui.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-passphrase-for-ui"


def make_shop(path: Path) -> Path:
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, cents INTEGER)")
        db.executemany(
            "INSERT INTO orders (item, cents) VALUES (?, ?)", [(f"item {i} ☕", i * 99) for i in range(500)]
        )
    db.close()
    return path


def pick_folder(page, root: Path, folder: str) -> None:
    """Use the folder picker: open it, go into the root, then the folder, then choose it."""
    form = page.locator("form[data-path-form]")
    form.get_by_role("button", name="Browse…").click()
    picker = form.locator("[data-picker]")
    picker.locator(f"button[data-browse='{root}']").click()
    picker.locator(f"button[data-browse='{root / folder}']").click()
    expect(picker.locator(".picker-head strong")).to_have_text(str(root / folder))
    picker.get_by_role("button", name="Use this folder").click()
    expect(form.locator("[data-path-input]")).to_have_value(str(root / folder))
    status = form.locator("[data-path-status]")
    expect(status.locator("[data-path-valid]")).to_contain_text("exists")
    expect(status).to_contain_text("writable")
    expect(status).to_contain_text("free")


def test_a_new_user_backs_up_a_sqlite_database_to_two_folders_with_the_real_worker_process(
    page, live_server, worker, backup_root, tmp_path, screenshots
):
    base = live_server.url
    (backup_root / "disk-a").mkdir()
    (backup_root / "disk-b").mkdir()
    shop = make_shop(tmp_path / "shop.sqlite3")

    # Register: the first account becomes the administrator and lands on the dashboard.
    page.goto(base + "/accounts/register/")
    page.fill("#id_username", "newbie")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Welcome, newbie")

    # Create a group.
    page.get_by_role("link", name="Groups").click()
    page.get_by_role("link", name="New group").click()
    page.fill("#id_name", "Shop team")
    page.get_by_role("button", name="Create group").click()
    expect(page.locator(".messages")).to_contain_text("Group “Shop team” created")

    # Add a SQLite database: the form drops the network fields; test the connection before saving.
    page.get_by_role("link", name="Add database").first.click()
    page.select_option("#id_engine", "sqlite")
    expect(page.locator("#id_host")).to_be_hidden()
    expect(page.locator("label[for=id_database_name]")).to_have_text("SQLite file path")
    page.fill("#id_name", "shop")
    page.fill("#id_database_name", str(tmp_path / "missing.sqlite3"))
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_contain_text("Connection failed.")
    page.fill("#id_database_name", str(shop))
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_contain_text("Connection works.")
    assert not Database.objects.exists()  # testing saved nothing
    page.get_by_role("button", name="Add database").click()
    expect(page.locator(".messages")).to_contain_text("Database “shop” added.")
    database = Database.objects.get(name="shop")

    # Two destinations through the folder picker.
    for name in ("disk-a", "disk-b"):
        page.fill("form[data-path-form] #id_name", name)
        pick_folder(page, backup_root, name)
        page.get_by_role("button", name="Add destination").click()
        expect(page.locator(".messages")).to_contain_text(f"Destination “{name}” added")

    # An every-minute schedule with its live preview; paused afterwards so only our run happens.
    page.get_by_role("link", name="Add schedule").click()
    page.fill("#id_name", "every minute")
    page.get_by_label("Every minute").check()
    expect(page.locator("[data-preview-run]")).to_have_count(5)
    expect(page.locator("#schedule-preview")).to_contain_text("* * * * *")
    page.get_by_role("button", name="Add schedule").click()
    expect(page.locator(".messages")).to_contain_text("Schedule “every minute” saved (every minute, next run")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".messages")).to_contain_text("paused")

    # Run now, then watch the row reach completed with two ✓ — without reloading the page.
    page.get_by_role("button", name="Run backup now").click()
    expect(page.locator(".messages")).to_contain_text("queued for 2 destinations")
    backup = Backup.objects.filter(database=database, trigger="manual").latest("created_at")
    page.evaluate("window.__sameDocument = true")
    row = page.locator(f"#backup-{backup.pk}")
    expect(row).to_have_attribute("data-status", "completed", timeout=45_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    expect(row.locator("[data-copy=saved]")).to_have_count(2)
    expect(row.locator("[data-status-badge]")).to_have_text("Completed")
    copies = {c.destination_name: Path(c.location) for c in BackupCopy.objects.filter(backup=backup)}
    assert all(p.is_file() for p in copies.values())

    # Download the whole backup (menu opened from the keyboard), then one destination's copy.
    for label, source in (("Whole backup", copies["disk-a"]), ("Copy at disk-b", copies["disk-b"])):
        summary = row.locator("summary", has_text="Download")
        summary.focus()
        page.keyboard.press("Enter")
        with page.expect_download() as info:
            row.get_by_role("link", name=re.compile(label)).click()
        saved = tmp_path / f"download-{label.replace(' ', '-')}"
        info.value.save_as(saved)
        assert saved.read_bytes() == source.read_bytes()
        page.keyboard.press("Escape")

    # A copy disappears from disk: Verify shows ⚠ on that copy and the banner.
    copies["disk-a"].unlink()
    row.get_by_role("button", name=f"Verify backup #{backup.pk}").click()
    expect(page.locator(".messages")).to_contain_text("1 of 2 copies have a problem")
    expect(page.locator("[data-missing-banner]")).to_be_visible()
    expect(page.locator(f"#backup-{backup.pk} [data-copy=missing]")).to_have_count(1)
    expect(page.locator(f"#backup-{backup.pk} [data-copy=missing]")).to_contain_text("⚠")
    page.screenshot(path=str(screenshots / "database-detail.png"), full_page=True)
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    # At 375 px the database page fits the screen (tables scroll inside their panels).
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{base}/databases/{database.pk}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(screenshots / "database-detail-375px.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Delete the backup with its files, after a confirmation that says so.
    page.goto(f"{base}/databases/{database.pk}/")
    row = page.locator(f"#backup-{backup.pk}")
    row.locator("summary", has_text="Delete").click()
    row.get_by_role("link", name="Delete the record and its files…").click()
    expect(page.locator("[data-delete-files]")).to_contain_text("This deletes the record and its files.")
    expect(page.locator("[data-delete-files]")).to_contain_text(str(copies["disk-b"]))
    page.get_by_role("button", name="Delete record and files").click()
    expect(page.locator(".messages")).to_contain_text(f"Backup #{backup.pk} and its files deleted")
    assert not Backup.objects.filter(pk=backup.pk).exists()
    assert not copies["disk-b"].exists() and not copies["disk-a"].exists()
    assert list((backup_root / "disk-b").iterdir()) == []
    assert page.js_errors == []


def test_a_viewer_sees_backups_but_no_run_download_delete_or_restore(
    browser, page, live_server, worker, backup_root, tmp_path
):
    from apps.destinations.models import Destination
    from apps.groups.models import Group

    User = get_user_model()
    owner = User.objects.create_user("owner", "", PASSWORD)
    viewer = User.objects.create_user("vera", "", PASSWORD)
    group = Group.objects.create(name="Ops")
    Membership.objects.create(user=owner, group=group, role="owner")
    Membership.objects.create(user=viewer, group=group, role="viewer")
    database = Database.objects.create(
        group=group, name="ledger", engine="sqlite", database_name=str(make_shop(tmp_path / "ledger.sqlite3"))
    )
    (backup_root / "ledger").mkdir()
    Destination.objects.create(database=database, name="disk", path=str(backup_root / "ledger"))
    backup = Backup.objects.create(database=database, trigger="manual")  # the worker runs it

    sign_in(page, live_server.url, "vera", PASSWORD)
    page.goto(f"{live_server.url}/databases/{database.pk}/")
    row = page.locator(f"#backup-{backup.pk}")
    expect(row).to_have_attribute("data-status", "completed", timeout=45_000)
    expect(row.locator("[data-copy=saved]")).to_have_count(1)
    main = page.locator("main")
    for name in ("Run backup now", "Download", "Delete", "Restore", "Verify", "Edit"):
        expect(main.get_by_role("button", name=name)).to_have_count(0)
        expect(main.get_by_role("link", name=name, exact=True)).to_have_count(0)
    expect(main.locator("summary")).to_have_count(0)
    # The server refuses what the page does not offer.
    status = page.evaluate(
        """async (url) => {
            const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
            const r = await fetch(url, {method: 'POST', headers: {'X-CSRFToken': token}});
            return r.status;
        }""",
        f"/backups/run/{database.pk}/",
    )
    assert status == 403
    assert Backup.objects.filter(database=database).count() == 1
