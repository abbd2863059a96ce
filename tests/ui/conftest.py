"""Fixtures for the browser tests: Chromium through Playwright, a live server, and a real
`runscheduler` worker process that shares the live server's test database.

For the worker process to see the test database, a SQLite test database must be a
file rather than Django's default in-memory one; this conftest arranges that when it is
loaded (PostgreSQL test databases are reachable as they are).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connections

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _sqlite_test_database_in_a_file() -> None:
    for conf in (settings.DATABASES["default"], connections["default"].settings_dict):
        if conf["ENGINE"] == "django.db.backends.sqlite3":
            test = conf.setdefault("TEST", {})
            if not test.get("NAME"):
                test["NAME"] = str(Path(tempfile.mkdtemp(prefix="bm-ui-db-")) / "test.sqlite3")


_sqlite_test_database_in_a_file()


def database_url() -> str:
    """The live server's (test) metadata database as a DATABASE_URL for another process."""
    conf = connections["default"].settings_dict
    if conf["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{conf['NAME']}"
    if conf["ENGINE"] == "django.db.backends.postgresql":
        auth = f"{quote(conf['USER'], safe='')}:{quote(conf['PASSWORD'], safe='')}"
        return f"postgres://{auth}@{conf['HOST']}:{conf['PORT']}/{conf['NAME']}"
    raise RuntimeError(f"no worker support for {conf['ENGINE']}")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bin/test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def worker(live_server, backup_root, tmp_path):
    """`manage.py runscheduler` in its own process, on the live server's database."""
    data_dir = tmp_path / "worker-data"
    data_dir.mkdir()
    log_path = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "backupmanager.settings",
            "DATABASE_URL": database_url(),
            "DEBUG": "false",
            "SECRET_KEY": "ui-test-worker-secret-key-0123456789abcdef0123456789",
            "BM_ENCRYPTION_KEYS": ",".join(settings.BM_ENCRYPTION_KEYS),
            "BM_DATA_DIR": str(data_dir),
            "BM_ALLOWED_ROOTS": str(backup_root),
            "BM_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler", "--grace", "5"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        time.sleep(0.5)
        if proc.poll() is not None:
            pytest.fail(f"runscheduler exited at once:\n{log_path.read_text()}")
        proc.log_path = log_path
        yield proc
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_url(base_url + "/")
