"""A restore through the pages in Chromium, with the real worker: no default target, the red warning
for the backup's own database, the clean choice and what it drops, and the restore's own page
following the run to its end without a reload."""

from __future__ import annotations

import re
import sqlite3

import pytest
from playwright.sync_api import expect

from tests.ui.test_browser import (
    add_destination,
    add_sqlite_database,
    create_group,
    make_shop,
    register,
    run_now,
)

pytestmark = pytest.mark.browser


def rows(path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT id, item, cents FROM orders ORDER BY id").fetchall()
    finally:
        db.close()


def test_a_clean_restore_into_the_backups_own_database_is_warned_about_and_followed_on_its_page(
    site, new_page, screenshots
):
    page = new_page()
    register(page, site, "rita")
    folders = create_group(page, "Restore team", site)
    (folders.backups / "disk").mkdir()
    shop = make_shop(folders.sqlite / "shop.sqlite3")
    db_url = add_sqlite_database(page, "shop", shop)
    add_destination(page, folders.backups, "disk")
    backup_id = run_now(page)
    expect(page.locator(f"#backup-{backup_id}")).to_have_attribute("data-status", "completed", timeout=25_000)
    before = rows(shop)
    # After the backup the database changes: a table and rows the backup does not have.
    db = sqlite3.connect(shop)
    with db:
        db.execute("DELETE FROM orders WHERE id > 10")
        db.execute("CREATE TABLE scratch (x)")
    db.close()

    page.locator(f"#backup-{backup_id}").get_by_role("link", name="Restore").click()
    expect(page.locator("h1")).to_have_text(f"Restore backup #{backup_id}")
    target = page.locator("#id_target")
    # No default target: the user chooses one; each reads engine and where the database is.
    expect(target).to_have_value("")
    option = page.locator("#id_target option", has_text="shop (Restore team)")
    expect(option).to_contain_text(f"SQLite, file {shop}")
    warning = page.locator("[data-source-warning]")
    expect(warning).to_be_hidden()
    page.select_option("#id_target", option.get_attribute("value"))
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("This target is the database the backup was taken from (shop)")
    expect(page.locator("[data-confirm-hint]")).to_have_text(str(shop))

    # Clean: the confirmation says what goes, naming the database.
    drops = page.locator("[data-confirm-drops]")
    expect(drops).to_be_hidden()
    page.get_by_label("Everything: a clean restore").check()
    expect(drops).to_be_visible()
    expect(drops).to_contain_text(f"everything in {shop} that is not in this backup is dropped")
    page.screenshot(path=str(screenshots / "restore-form-clean.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 900})

    page.fill("#id_confirm", str(shop))
    page.get_by_role("button", name="Restore").click()
    message = page.locator(".messages")
    expect(message).to_contain_text(f"of backup #{backup_id} into shop queued")
    restore_id = int(re.search(r"Restore #(\d+)", message.inner_text()).group(1))
    assert page.url == f"{site.url}/restores/{restore_id}/"
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("[data-into-source]")).to_be_visible()
    expect(page.locator("[data-restore-kind]")).to_have_text(
        "Clean restore: nothing that is not in the backup remains"
    )
    status = page.locator("#restore-status")
    expect(status.locator("[data-status-badge]")).to_have_text("Completed", timeout=25_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    expect(status.locator("[data-attempt=ok]")).to_contain_text("disk")
    expect(status.locator("[data-bytes]")).not_to_have_text("0 B")
    assert status.get_attribute("data-refresh-url") is None  # finished: no more polling
    page.screenshot(path=str(screenshots / "restore-detail.png"), full_page=True)

    assert rows(shop) == before
    db = sqlite3.connect(shop)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert "scratch" not in tables

    # The database page links the restore to its page.
    page.goto(db_url)
    page.locator(f"#restore-{restore_id}").get_by_role("link", name=f"#{restore_id}", exact=True).click()
    expect(page.locator("h1")).to_have_text(f"Restore #{restore_id}")
    assert page.js_errors == []
