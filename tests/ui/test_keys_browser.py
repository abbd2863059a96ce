"""Encryption keys through the pages in Chromium: generate (the secret shown once), import, choose on a database."""

from __future__ import annotations

import subprocess

import pytest
from playwright.sync_api import expect

from apps.common import age
from tests.ui.test_browser import add_sqlite_database, create_group, make_shop, register

pytestmark = pytest.mark.browser


def test_an_owner_generates_a_key_stores_it_and_chooses_it_for_a_database(
    site, new_page, tmp_path, screenshots
):
    page = new_page()
    register(page, site, "keeper")
    folders = create_group(page, "Vault team", site)
    group_url = page.url

    # Generate: the secret key is on the page the POST returns, with the "store this now" warning.
    keys = page.locator("#keys")
    expect(keys).to_contain_text("No encryption keys")
    keys.get_by_label("Name").first.fill("offsite")
    keys.get_by_role("button", name="Generate key").click()
    expect(page.locator("h1")).to_have_text("Key “offsite” generated")
    expect(page.get_by_role("alert")).to_contain_text("Store this secret key now.")
    key_text = page.locator("[data-secret-key]").input_value()
    recipient = page.locator("[data-recipient]").inner_text()
    assert age.recipient_of(key_text) == recipient
    key_file = tmp_path / "key.txt"
    key_file.write_text(key_text + "\n")
    done = subprocess.run(["age-keygen", "-y", str(key_file)], capture_output=True, text=True)
    assert done.stdout.strip() == recipient  # the age tools read the key file as shown
    page.screenshot(path=str(screenshots / "key-generated.png"), full_page=True)
    page.get_by_role("link", name="I have stored the secret key").click()

    # The group page lists it, never shows the secret again, and fits a phone screen.
    expect(page.locator("#keys table")).to_contain_text(recipient)
    assert key_text.splitlines()[-1] not in page.content()
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 900})

    # Import a public key made elsewhere; a bad one is refused in words.
    _, laptop = age.generate_identity()
    form = page.locator("form[data-key-import]")
    form.get_by_label("Name").fill("laptop")
    form.get_by_label("Public key").fill("age1-not-a-key")
    form.get_by_role("button", name="Import key").click()
    expect(page.locator("main")).to_contain_text("Not a valid age recipient")
    form = page.locator("form[data-key-import]")
    form.get_by_label("Public key").fill(laptop)
    form.get_by_role("button", name="Import key").click()
    expect(page.locator(".messages")).to_contain_text("Key “laptop” imported")

    # A database chooses the key; the key then cannot be deleted.
    page.goto(group_url)
    db_url = add_sqlite_database(page, "vault", make_shop(folders.sqlite / "vault.sqlite3"))
    page.goto(db_url.rstrip("/") + "/edit/")
    page.select_option("#id_encryption_key", label=f"offsite (Vault team) · {recipient[:16]}…")
    page.get_by_role("button", name="Save database").click()
    page.goto(group_url)
    expect(page.locator("#keys table")).to_contain_text("vault")
    page.get_by_role("link", name="Delete the key offsite").click()
    expect(page.locator("main")).to_contain_text("choose another key (or none) for them first")
    assert page.js_errors == []
