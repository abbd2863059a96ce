"""Live progress in the browser: a running backup shows its elapsed time growing, polled into the
page without a reload, and its row turns completed by itself once the dump can finish.

A small SQLite backup finishes in well under a second, so the test makes the real worker's dump
block honestly: it holds an EXCLUSIVE lock on the source file (as tests/schedules does). The
engine's online-backup step then waits in SQLite's busy handler (its `timeout` is the database's
timeout_seconds, set to 120 s here) without calling back, and nothing is streamed before the
snapshot is complete — so while locked, "bytes so far" honestly reads 0 B and only the elapsed
time moves.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui.test_browser import add_destination, create_group, make_shop, register, run_now

pytestmark = pytest.mark.browser

ELAPSED = re.compile(r"^0 B · (\d+) s$")


class SqliteLock:
    """Another connection holds an EXCLUSIVE lock on the file: no reader gets in until release()."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


def elapsed_seconds(progress) -> int:
    text = progress.inner_text().strip()
    match = ELAPSED.match(text)
    assert match, f"unexpected progress text while the source is locked: {text!r}"
    return int(match.group(1))


def test_a_running_backup_shows_its_elapsed_time_growing_and_completes_by_itself(site, new_page, tmp_path):
    page = new_page()
    register(page, site, "petra")
    folders = create_group(page, "Slow team", site)
    (folders.backups / "slow-disk").mkdir()
    source = make_shop(folders.sqlite / "slow.sqlite3")
    page.get_by_role("link", name="Add database").first.click()
    page.select_option("#id_engine", "sqlite")
    page.fill("#id_name", "slow")
    page.fill("#id_database_name", str(source))
    # Generous: the dump waits on the lock for at most this long before failing.
    page.fill("#id_timeout_seconds", "120")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_contain_text("Connection works.")
    page.get_by_role("button", name="Add database").click()
    expect(page.locator(".messages")).to_contain_text("Database “slow” added.")
    add_destination(page, folders.backups, "slow-disk")

    lock = SqliteLock(source)
    try:
        backup_id = run_now(page)
        page.evaluate("window.__sameDocument = true")
        row = page.locator(f"#backup-{backup_id}")
        expect(row).to_have_attribute("data-status", "in_progress", timeout=10_000)
        expect(row.locator("[data-status-badge]")).to_have_text("In progress")
        progress = row.locator("[data-progress]")
        expect(progress).to_have_text(ELAPSED)
        first = elapsed_seconds(progress)
        # Tag the rendered row: a later poll replaces the fragment, so a fresh row lacks the tag.
        page.evaluate(f"document.getElementById('backup-{backup_id}').__seen = true")
        expect(progress).not_to_have_text(f"0 B · {first} s", timeout=8_000)
        second = elapsed_seconds(progress)
        assert second > first, (first, second)
        assert page.evaluate(f"document.getElementById('backup-{backup_id}').__seen !== true"), "no poll"
        expect(row).to_have_attribute("data-status", "in_progress")
        expect(row.locator("[data-copy=running]")).to_have_count(1)
        assert list((folders.backups / "slow-disk").iterdir()) == [], (
            "a file appeared while the dump was blocked"
        )
    finally:
        lock.release()

    released = time.monotonic()
    expect(row).to_have_attribute("data-status", "completed", timeout=15_000)
    assert time.monotonic() - released < 15
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    expect(row.locator("[data-status-badge]")).to_have_text("Completed")
    expect(row.locator("[data-progress]")).to_have_count(0)
    saved = row.locator("[data-copy=saved]")
    expect(saved).to_have_count(1)
    expect(saved).to_contain_text("✓")
    expect(saved).to_contain_text("slow-disk")
    # Finished: the page stops polling.
    expect(page.locator("#activity")).not_to_have_attribute("data-active", "true")
    files = [p for p in (folders.backups / "slow-disk").iterdir() if not p.name.endswith(".manifest.json")]
    assert len(files) == 1 and files[0].stat().st_size > 0, files
    assert page.js_errors == []
