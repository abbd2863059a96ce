"""Every page at 1440 px and 375 px, light and dark, in Chromium, on one populated site
(tests/ui/pages_world.py: three groups, four engines, local/S3/SFTP destinations, a month of
backups with a failed, a partial and a missing copy, restores, a key, tokens, an audit log).

For each page and each of the four looks the walk asserts that
- the page does not scroll sideways (document.scrollingElement.scrollWidth <= the viewport),
- every visible control (link, button, menu, field) lies inside the viewport: on a phone, a
  table's actions are reachable without scrolling anything sideways (tables turn into cards),
- axe-core (axe-playwright-python) reports no violation,
and saves a full-page screenshot as test-artifacts/screenshots/<page>-<width>-<theme>.png.
All problems of a look are collected and reported together, readably.

Adding a page: append a `Page` to PAGES below, with a name (used for the screenshot), its path
(`{name}` fields are the ids `populate` in pages_world.py prints: add what your page needs there),
the status it answers with, and optionally `prepare`, a function that gets the page into the
state to check (open a menu, submit a form with a mistake). Pages for signed-out visitors set
`signed_in=False`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.ui.conftest import SCREENSHOTS
from tests.ui.pages_world import PEER, PEER_PASSWORD, populate_site

# The site keeps its metadata in its own SQLite file whatever the pass, so bin/test's PostgreSQL
# pass skips the walk (tests/conftest.py: own metadata), as it does every browser test.
pytestmark = [pytest.mark.browser]

# The site as bin/run serves it (DEBUG off): the real error pages, collected static files.
SITE_PRODUCTION = True
USERNAME = "sam"
PASSWORD = "a-long-passphrase-for-the-walk"
WIDTHS = {1440: 900, 375: 812}  # width: height
THEMES = ("light", "dark")


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    status: int = 200
    signed_in: bool = True
    prepare: Callable | None = None


def open_menu(scope: str) -> Callable:
    """Open the first menu (a <details class="menu">) inside `scope`: its body must fit too."""

    def prepare(page) -> None:
        page.locator(f"{scope} details.menu > summary").first.click()
        expect(page.locator(f"{scope} details.menu[open] .menu-body").first).to_be_visible()

    return prepare


def open_every_disclosure(page) -> None:
    """Open every <details> of the page but its menus (folded errors, acknowledge forms, a chart's
    values) at once; `open_menu` checks a menu."""
    count = page.evaluate(
        "[...document.querySelectorAll('main details:not(.menu)')].map(d => d.open = true).length"
    )
    assert count, "nothing to open on this page"


def error_page_links_back(page) -> None:
    """The site's own error page (not Django's debug page), in the layout, with a way back."""
    expect(page.locator("header.topbar")).to_be_visible()
    expect(page.locator("main .error-reason")).not_to_be_empty()
    expect(page.locator("main a").first).to_be_visible()


def submit_bad_cron(page) -> None:
    page.get_by_label("Custom cron").check()
    page.fill("#id_cron_expression", "61 * * * *")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("[data-error-summary]")).to_be_focused()


def submit_empty_token(page) -> None:
    page.get_by_role("button", name="Create token").click()
    expect(page.locator(".field.has-error").first).to_be_visible()


def submit_wrong_restore_name(page) -> None:
    page.fill("#id_confirm", "not-the-name")
    page.get_by_role("button", name="Restore").click()
    expect(page.locator(".field.has-error").first).to_be_visible()


def sign_in_with_password_only(page) -> None:
    """The colleague with a second factor: the password leads to the page that asks for the code."""
    page.fill("#id_username", PEER)
    page.fill("#id_password", PEER_PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(re.compile("/accounts/login/code/"))


def generate_key(page) -> None:
    keys = page.locator("#keys")
    keys.get_by_label("Name").first.fill(f"walk-{page.viewport_size['width']}-{page.look}")
    keys.get_by_role("button", name="Generate key").click()
    expect(page.get_by_role("alert")).to_contain_text("Store this secret key now.")


PAGES = [
    Page("dashboard", "/"),
    Page("dashboard-opened", "/", prepare=open_every_disclosure),
    Page("groups", "/groups/"),
    Page("group-new", "/groups/new/"),
    Page("group-detail", "/groups/{shop}/"),
    Page("group-detail-viewer", "/groups/{finance}/"),
    Page("group-edit", "/groups/{shop}/edit/"),
    Page("group-delete", "/groups/{analytics}/delete/"),
    Page("member-remove", "/groups/{shop}/members/{peer_membership}/remove/"),
    Page("key-generated", "/groups/{shop}/", prepare=generate_key),
    Page("key-delete", "/keys/{key}/delete/"),
    Page("channel-new", "/channels/new/{shop}/"),
    Page("channel-edit", "/channels/{channel}/edit/"),
    Page("channel-delete", "/channels/{channel}/delete/"),
    Page("databases", "/databases/"),
    Page("database-new", "/databases/new/"),
    Page("database-detail", "/databases/{orders}/"),
    Page("database-detail-menu", "/databases/{orders}/", prepare=open_menu("table.backups")),
    Page("database-detail-opened", "/databases/{billing}/", prepare=open_every_disclosure),
    Page("database-failed", "/databases/{billing}/"),
    Page("database-edit", "/databases/{billing}/edit/"),
    Page("database-delete", "/databases/{billing}/delete/"),
    Page("destination-new", "/destinations/new/{orders}/"),
    Page("destination-local", "/destinations/{local}/edit/"),
    Page("destination-s3", "/destinations/{s3}/edit/"),
    Page("destination-sftp", "/destinations/{sftp}/edit/"),
    Page("destination-delete", "/destinations/{local}/delete/"),
    Page("schedules", "/schedules/"),
    Page("schedule-new", "/schedules/new/?database={orders}"),
    Page("schedule-new-no-database", "/schedules/new/"),
    Page("schedule-edit", "/schedules/{schedule}/edit/"),
    Page("schedule-mistake", "/schedules/{schedule}/edit/", prepare=submit_bad_cron),
    Page("schedule-delete", "/schedules/{schedule}/delete/"),
    Page("backup-detail", "/backups/{backup}/"),
    Page("backup-failed", "/backups/{failed}/"),
    Page("backup-partial", "/backups/{partial}/"),
    Page("backup-missing-copy", "/backups/{missing}/"),
    Page("backup-delete", "/backups/{missing}/delete/?files=1"),
    Page("backups", "/backups/"),
    Page("backups-failed", "/backups/?status=failed", prepare=open_every_disclosure),
    Page("restore", "/backups/{backup}/restore/"),
    Page("restore-encrypted", "/backups/{encrypted}/restore/"),
    Page("backup-encrypted", "/backups/{encrypted}/"),
    Page("restore-detail", "/restores/{restore}/"),
    Page("restore-failed", "/restores/{failed_restore}/"),
    Page("restore-mistake", "/backups/{backup}/restore/", prepare=submit_wrong_restore_name),
    Page("tokens", "/accounts/tokens/"),
    Page("tokens-mistake", "/accounts/tokens/", prepare=submit_empty_token),
    Page("two-factor", "/accounts/two-factor/"),
    Page("audit", "/audit/"),
    Page("not-found", "/no-such-page/", status=404, prepare=error_page_links_back),
    Page("not-found-backup", "/backups/999999/", status=404, prepare=error_page_links_back),
    Page("forbidden", "/groups/{finance}/edit/", status=403, prepare=error_page_links_back),
    Page("login", "/accounts/login/", signed_in=False),
    Page("register", "/accounts/register/", signed_in=False),
    Page(
        "not-found-signed-out", "/no-such-page/", status=404, signed_in=False, prepare=error_page_links_back
    ),
    Page("invite", "/accounts/invite/{invite}/", signed_in=False),
    Page("login-code", "/accounts/login/", signed_in=False, prepare=sign_in_with_password_only),
]

# Visible controls whose box is not inside the viewport: on a phone, actions that only a
# sideways scroll (of the page or of a table) would reveal. The skip link waits off-screen.
OFFSCREEN_CONTROLS = """() => {
  const width = window.innerWidth, out = [];
  for (const el of document.querySelectorAll('a[href], button, summary, input, select, textarea')) {
    if (el.closest('.skip-link, .visually-hidden') || el.classList.contains('skip-link')) continue;
    // Not rendered: hidden, or inside a closed <details> (its content is skipped, not laid out).
    if (!el.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) continue;
    if (r.left < -1 || r.right > width + 1) {
      out.push(`${el.tagName.toLowerCase()} "${(el.innerText || el.name || el.id || '').trim().slice(0, 40)}" `
        + `at ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return out;
}"""


def readable(violations: list[dict]) -> str:
    """axe's violations, one line per rule and one per element (at most 4), with axe's reason."""
    lines = []
    for v in violations:
        lines.append(f"axe {v['id']} ({v['impact']}): {v['help']} — {len(v['nodes'])} element(s)")
        for node in v["nodes"][:4]:
            reason = " ".join(node.get("failureSummary", "").splitlines()[1:]).strip()
            lines.append(f"    {' '.join(map(str, node['target']))}: {reason[:220]}")
    return "\n    ".join(lines)


@pytest.fixture(scope="module")
def catalogue(site):
    """The user (a member of three groups, not the administrator) and the catalogue around it."""
    return populate_site(site, USERNAME, PASSWORD)


def sign_in(page, site) -> None:
    page.goto(site.url + "/accounts/login/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert "/accounts/login/" not in page.url, "the sign-in failed"


def check_page(page, site, spec: Page, ids: dict, width: int, theme: str, axe: Axe) -> list[str]:
    """Open one page, look at it; return its problems (empty when none)."""
    url = site.url + spec.path.format(**ids)
    response = page.goto(url)
    shot = str(SCREENSHOTS / f"{spec.name}-{width}-{theme}.png")
    problems = []
    if response.status != spec.status:
        page.screenshot(path=shot, full_page=True)
        return [f"answered {response.status}, expected {spec.status}"]
    if spec.prepare:
        try:
            spec.prepare(page)
        except (AssertionError, PlaywrightError) as exc:
            page.screenshot(path=shot, full_page=True)
            return [f"could not get the page ready: {str(exc).splitlines()[0]}"]
    scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
    if scroll_width > width:
        problems.append(f"scrolls sideways: {scroll_width} px wide in a {width} px viewport")
    outside = page.evaluate(OFFSCREEN_CONTROLS)
    if outside:
        more = f" (and {len(outside) - 5} more)" if len(outside) > 5 else ""
        problems.append(f"controls outside the viewport: {'; '.join(outside[:5])}{more}")
    results = axe.run(page)
    if results.violations_count:
        problems.append(readable(results.response["violations"]))
    page.screenshot(path=shot, full_page=True)
    return problems


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen_and_passes_axe(site, browser, catalogue, width, theme):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport={"width": width, "height": WIDTHS[width]}, color_scheme=theme, reduced_motion="reduce"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.look = theme
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.on(
        "console",
        lambda m: errors.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None,
    )
    axe = Axe()
    report: dict[str, list[str]] = {}
    try:
        signed_in = [p for p in PAGES if p.signed_in]
        signed_out = [p for p in PAGES if not p.signed_in]
        sign_in(page, site)
        # The system's theme is followed when nothing was chosen with the toggle.
        assert page.evaluate("document.documentElement.dataset.theme || ''") == ""
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
        assert (sum(channels) < 200) == (theme == "dark"), f"{theme} look has a {background} background"
        for spec in signed_in:
            found = check_page(page, site, spec, catalogue, width, theme, axe)
            if found:
                report[spec.name] = found
        page.context.clear_cookies()
        for spec in signed_out:
            found = check_page(page, site, spec, catalogue, width, theme, axe)
            if found:
                report[spec.name] = found
    finally:
        context.close()
    assert not report and not errors, (
        f"{width} px, {theme}:\n"
        + "\n".join(
            f"- {name}:\n" + "\n".join(f"    {p}" for p in problems) for name, problems in report.items()
        )
        + ("\nScript errors and CSP refusals: " + json.dumps(errors) if errors else "")
    )


# Runs before any script of the page: notes the theme attribute at the moment the parser inserts
# the stylesheet, i.e. before anything can be painted with it.
THEME_AT_STYLESHEET = """
window.__themeAtStylesheet = 'no stylesheet seen';
new MutationObserver((changes, observer) => {
  for (const change of changes) for (const node of change.addedNodes) {
    if (node.tagName === 'LINK' && node.rel === 'stylesheet') {
      window.__themeAtStylesheet = document.documentElement.getAttribute('data-theme') || '';
      observer.disconnect();
      return;
    }
  }
}).observe(document, {childList: true, subtree: true});
"""


def test_the_theme_toggle_overrides_the_system_is_remembered_and_shows_before_the_first_paint(
    site, browser, catalogue
):
    context = browser.new_context(viewport={"width": 375, "height": 812}, color_scheme="light")
    context.add_init_script(THEME_AT_STYLESHEET)
    page = context.new_page()
    try:
        sign_in(page, site)
        toggle = page.get_by_role("button", name="Dark theme")
        expect(toggle).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"

        toggle.click()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(toggle).to_have_attribute("aria-pressed", "true")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 20, 28)"

        # Another page of the site: dark already when the stylesheet arrives (no light flash).
        page.goto(site.url + "/databases/")
        assert page.evaluate("window.__themeAtStylesheet") == "dark"
        assert page.locator('meta[name="color-scheme"]').get_attribute("content") == "dark"
        expect(page.get_by_role("button", name="Dark theme")).to_have_attribute("aria-pressed", "true")

        # Back to light: remembered too, even when the system turns dark.
        page.get_by_role("button", name="Dark theme").click()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        page.emulate_media(color_scheme="dark")
        page.reload()
        assert page.evaluate("window.__themeAtStylesheet") == "light"
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
        expect(page.get_by_role("button", name="Dark theme")).to_have_attribute("aria-pressed", "false")

        # Without a choice the system decides, and the toggle says which theme shows.
        page.evaluate("localStorage.removeItem('bm-theme')")
        page.reload()
        assert page.evaluate("window.__themeAtStylesheet") == ""
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 20, 28)"
        expect(page.get_by_role("button", name="Dark theme")).to_have_attribute("aria-pressed", "true")
    finally:
        context.close()


def test_on_a_phone_table_rows_are_cards_whose_cells_say_their_column_also_after_a_live_update(
    site, browser, catalogue
):
    context = browser.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    try:
        sign_in(page, site)
        page.goto(site.url + f"/databases/{catalogue['orders']}/")
        row = page.locator(f"#backup-{catalogue['backup']}")
        labels = row.locator("td").evaluate_all("cells => cells.map(c => c.dataset.label || '')")
        assert labels[:2] == ["Backup", "Status"] and "Destinations" in labels, labels
        assert row.evaluate("r => getComputedStyle(r).display") == "block"
        assert row.evaluate("r => r.getAttribute('role')") == "row"
        assert row.locator("td").first.evaluate("c => getComputedStyle(c, '::before').content") == '"Backup"'
        verify = row.get_by_role("button", name=f"Verify backup #{catalogue['backup']}")
        box = verify.bounding_box()
        assert box and 0 <= box["x"] and box["x"] + box["width"] <= 375

        # The live activity poll swaps the fragment for fresh HTML (without labels): labelled again.
        page.evaluate("""() => {
            const old = document.getElementById('activity');
            const fresh = document.createElement('div');
            fresh.innerHTML = old.outerHTML.replace(/ data-label="[^"]*"| role="[^"]*"/g, '');
            old.replaceWith(fresh.firstElementChild);
        }""")
        expect(row.locator("td").first).to_have_attribute("data-label", "Backup")
        expect(row).to_have_attribute("role", "row")
    finally:
        context.close()
