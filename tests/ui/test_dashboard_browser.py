"""The dashboard in Chromium, against a running site with its real worker: the first-run path from an
empty dashboard, the backups page's filters, and "Needs attention" acknowledged and refreshed by itself."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.test_browser import add_destination, make_shop, register, run_now

pytestmark = pytest.mark.browser


def steps(page) -> list[str]:
    return page.locator("[data-onboarding] [data-step]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-state'))"
    )


def wait_for_status(page, backup_id: int, status: str) -> None:
    expect(page.locator(f"#backup-{backup_id}")).to_have_attribute("data-status", status, timeout=45_000)


def test_from_an_empty_dashboard_to_a_filtered_backups_page_and_an_acknowledged_failure(
    site, new_page, screenshots
):
    page = new_page()
    page.clock.install()  # the dashboard's 30 s refresh is fast-forwarded below, not waited for
    register(page, site, "firstrun")

    # An empty dashboard is a path, not zeros: only "Create a group" is offered.
    page.get_by_role("link", name="Dashboard").click()
    assert steps(page) == ["next", "later", "later", "later", "later"]
    expect(page.locator("[data-stat]")).to_have_count(0)
    expect(page.locator("svg.chart")).to_have_count(0)
    expect(page.get_by_role("link", name="Add a database")).to_have_count(0)
    page.screenshot(path=str(screenshots / "dashboard-first-run.png"), full_page=True)
    page.get_by_role("link", name="Create a group").click()
    page.fill("#id_name", "Night shift")
    page.get_by_role("button", name="Create group").click()
    expect(page.locator(".messages")).to_contain_text("Group “Night shift” created")
    group_id = int(re.search(r"/groups/(\d+)/", page.url).group(1))
    sqlite_dir, backups_dir = site.sqlite_root / f"group-{group_id}", site.root / f"group-{group_id}"
    for folder in (sqlite_dir, backups_dir / "nightly"):
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    shop = make_shop(sqlite_dir / "shop.sqlite3")

    # Step 2 is next: the database, tested before it is saved.
    page.get_by_role("link", name="Dashboard").click()
    assert steps(page) == ["done", "next", "later", "later", "later"]
    page.get_by_role("link", name="Add a database").click()
    page.select_option("#id_engine", "sqlite")
    page.fill("#id_name", "shop")
    page.fill("#id_database_name", str(shop))
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_contain_text("Connection works.")
    page.get_by_role("button", name="Add database").click()
    expect(page.locator(".messages")).to_contain_text("Database “shop” added.")

    # Step 3: a destination, from the dashboard's link.
    page.get_by_role("link", name="Dashboard").click()
    assert steps(page) == ["done", "done", "next", "later", "later"]
    page.get_by_role("link", name="Add a destination").click()
    add_destination(page, backups_dir, "nightly")
    page.get_by_role("link", name="Dashboard").click()
    assert steps(page) == ["done", "done", "done", "next", "later"]
    expect(page.get_by_role("link", name="Add a schedule")).to_be_visible()

    # A good backup, then a failing one (the source file is gone).
    page.get_by_role("link", name="Databases", exact=True).click()
    page.get_by_role("link", name="shop").click()
    good = run_now(page)
    wait_for_status(page, good, "completed")
    shop.rename(shop.with_name("moved-away.sqlite3"))
    failed = run_now(page)
    wait_for_status(page, failed, "failed")

    # The backups page lists both; the failed filter leaves the failure with its whole error.
    page.get_by_role("link", name="Backups", exact=True).click()
    expect(page.locator("[data-backup-list] tbody tr")).to_have_count(2)
    page.select_option("#id_status", "failed")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("[data-backup-list] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-backup-id", str(failed))
    assert "status=failed" in page.url
    error = rows.first.locator("[data-error]")
    error.locator("summary").click()
    expect(error.locator(".error-text")).to_be_visible()
    expect(error.locator(".error-text")).not_to_be_empty()
    page.screenshot(path=str(screenshots / "backups-filtered.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "the page scrolls sideways"
    page.screenshot(path=str(screenshots / "backups-375.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The dashboard keeps the failure in sight; an acknowledgement is recorded and shown.
    page.get_by_role("link", name="Dashboard").click()
    row = page.locator(f"[data-attention-backup='{failed}']")
    expect(row).to_contain_text("shop")
    expect(page.locator("[data-stat=attention] .value")).to_have_text("1")
    row.locator("summary", has_text="Acknowledge").click()
    row.get_by_label("Note (optional)").fill("source file moved on purpose")
    row.get_by_role("button", name=f"Acknowledge #{failed}").click()
    expect(page.locator(".messages")).to_contain_text(f"Backup #{failed} of shop acknowledged")
    expect(page.locator("[data-attention-backup]")).to_have_count(0)
    acknowledged = page.locator(f"[data-acknowledged-backup='{failed}']")
    expect(acknowledged).to_contain_text("acknowledged by firstrun")
    expect(acknowledged).to_contain_text("source file moved on purpose")
    page.screenshot(path=str(screenshots / "dashboard-acknowledged.png"), full_page=True)

    # Another failure, made in a second tab, reaches this dashboard by its own refresh (no reload).
    page.evaluate("window.__sameDocument = true")
    other = page.context.new_page()
    other.goto(site.url + "/databases/")
    other.get_by_role("link", name="shop").click()
    again = run_now(other)
    wait_for_status(other, again, "failed")
    other.close()
    page.clock.fast_forward(31_000)
    expect(page.locator(f"[data-attention-backup='{again}']")).to_be_visible()
    expect(page.locator("[data-stat=attention] .value")).to_have_text("1")
    assert page.evaluate("window.__sameDocument === true"), "the dashboard reloaded"
    assert page.js_errors == []
