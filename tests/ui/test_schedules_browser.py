"""Scheduling in Chromium: a preset at a time of day with its live preview read in plain English,
the schedules list's pause/resume, edit and run now, and the database page's chart at 375 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.test_browser import add_destination, add_sqlite_database, create_group, make_shop, register

pytestmark = pytest.mark.browser


def test_an_owner_schedules_weekly_at_a_time_and_runs_pauses_and_edits_it_from_the_list(
    site, new_page, screenshots
):
    page = new_page()
    register(page, site, "sched-owner")
    folders = create_group(page, "Timed", site)
    (folders.backups / "primary").mkdir()

    # The SQLite path suggested by the form lies in the group's own folder.
    page.get_by_role("link", name="Add database").first.click()
    page.select_option("#id_engine", "sqlite")
    placeholder = page.locator("#id_database_name").get_attribute("placeholder")
    assert placeholder.startswith(str(folders.sqlite) + "/"), placeholder
    page.go_back()
    db_url = add_sqlite_database(page, "ledger", make_shop(folders.sqlite / "ledger.sqlite3"))
    add_destination(page, folders.backups, "primary")

    # A weekly schedule on Monday at 02:30: only the fields of the chosen preset show.
    page.get_by_role("link", name="Add schedule").click()
    page.fill("#id_name", "nightly-ish")
    run_time, weekday, day = (
        page.locator("#id_run_time"),
        page.locator("#id_run_weekday"),
        page.locator("#id_run_day"),
    )
    expect(run_time).to_be_visible()
    expect(weekday).to_be_hidden()
    expect(day).to_be_hidden()
    page.get_by_label("Weekly").check()
    expect(weekday).to_be_visible()
    expect(day).to_be_hidden()
    run_time.fill("02:30")
    weekday.select_option("1")
    preview = page.locator("#schedule-preview")
    expect(preview.locator("[data-preview-reading]")).to_have_text("At 02:30, only on Monday (UTC)")
    expect(preview.locator("[data-preview-run]").first).to_contain_text("Mon")
    expect(preview.locator("[data-preview-run]").first).to_contain_text("02:30")
    page.get_by_label("Monthly").check()
    expect(day).to_be_visible()
    expect(weekday).to_be_hidden()
    day.fill("15")
    day.dispatch_event("change")
    expect(preview.locator("[data-preview-reading]")).to_have_text("At 02:30, on day 15 of the month (UTC)")
    page.get_by_label("Custom cron").check()
    expect(run_time).to_be_hidden()
    expect(page.locator("#id_cron_expression")).to_be_visible()
    page.get_by_label("Weekly").check()
    expect(preview.locator("[data-preview-reading]")).to_have_text("At 02:30, only on Monday (UTC)")
    page.get_by_role("button", name="Add schedule").click()
    expect(page.locator(".messages")).to_contain_text("Schedule “nightly-ish” saved (weekly")

    # The schedules list reads the rule and offers pause/resume, edit, run now.
    page.get_by_role("link", name="Schedules", exact=True).click()
    row = page.locator("tr[data-schedule='nightly-ish']")
    expect(row.locator("[data-cron-reading]")).to_have_text("At 02:30, only on Monday")
    expect(row.locator("[data-last-result]")).to_contain_text("not run yet")
    for width in (1440, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(screenshots / f"schedules-list-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    row.get_by_role("button", name="Pause nightly-ish").click()
    expect(page.locator(".messages")).to_contain_text("paused")
    assert page.url.endswith("/schedules/")
    expect(row.locator("[data-paused]")).to_be_visible()
    row.get_by_role("button", name="Resume nightly-ish").click()
    expect(page.locator(".messages")).to_contain_text("resumed")
    expect(row.locator("[data-paused]")).to_have_count(0)

    row.get_by_role("link", name="Edit nightly-ish").click()
    expect(page.locator("#id_run_time")).to_have_value("02:30")
    expect(page.locator("#id_run_weekday")).to_have_value("1")
    expect(page.get_by_label("Weekly")).to_be_checked()
    page.go_back()

    page.locator("tr[data-schedule='nightly-ish']").get_by_role("button", name="Run now: ledger").click()
    expect(page.locator(".messages")).to_contain_text("queued for 1 destination")
    assert page.url.startswith(db_url)
    backup_id = int(re.search(r"Backup #(\d+)", page.locator(".messages").inner_text()).group(1))
    expect(page.locator(f"#backup-{backup_id}")).to_have_attribute("data-status", "completed", timeout=30_000)
    assert page.js_errors == []

    # The database page's chart at 375 px: labels at their CSS size, values in a table.
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(db_url)
    label = page.locator("[data-db-chart='chart-size'] text.axis").first
    expect(label).to_be_visible()
    assert label.evaluate("el => getComputedStyle(el).fontSize") == "12px"
    assert label.bounding_box()["height"] >= 11  # not shrunk with the drawing
    page.locator("[data-chart-values] summary").click()
    expect(page.locator("[data-chart-values] table")).to_contain_text(f"#{backup_id}")
    page.screenshot(path=str(screenshots / "database-chart-375.png"), full_page=True)
    assert page.js_errors == []
