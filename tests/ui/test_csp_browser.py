"""In a real browser, the pages work under the Content-Security-Policy: the scripts run (connection
test, folder picker, live activity) and the browser reports no violation on any page walked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.ui.test_browser import add_destination, add_sqlite_database, create_group, make_shop, register

pytestmark = pytest.mark.browser


def test_the_pages_run_under_the_policy_without_a_violation(site, new_page):
    page = new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    response = page.goto(site.url + "/accounts/register/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    register(page, site, "cspwalker")
    folders = create_group(page, "CSP team", site)
    add_sqlite_database(page, "shop", make_shop(folders.sqlite / "shop.sqlite3"))
    (folders.backups / "disk").mkdir()
    add_destination(page, folders.backups, "disk")  # the folder picker fills itself by script
    for path in ("/", "/groups/", "/databases/", "/schedules/", "/audit/", "/accounts/tokens/"):
        page.goto(site.url + path)
        expect(page.locator("main")).to_be_visible()
    page.goto(site.url + "/audit/")
    expect(page.locator("table.audit")).to_contain_text("database.create")
    assert violations == [] and page.js_errors == []
