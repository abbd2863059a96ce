"""Fixtures for the browser tests: Chromium through Playwright against a site of our own —
`manage.py runserver` and a real `manage.py runscheduler` worker, two processes sharing one
SQLite metadata file, as on a small production host.

Why not pytest-django's live_server: the worker process has to see the web server's data,
and pointing the session's test database at a file (so another process can open it) changes
the locking behaviour of every other test in the session. A separate site leaves the
session's test database alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

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


@dataclass
class Site:
    """A running BackupManager: its URL, backup root, data folder and processes."""

    url: str
    root: Path
    data_dir: Path
    env: dict
    procs: list = field(default_factory=list)
    sqlite_root: Path | None = None

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{p.log_path.read_text()[-4000:]}" for p in self.procs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(site: Site, name: str, *args: str) -> subprocess.Popen:
    log_path = site.data_dir / f"{name}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed when the site stops
    proc = subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=REPO, env=site.env, stdout=log, stderr=subprocess.STDOUT
    )
    proc.log_path, proc.log_file = log_path, log
    site.procs.append(proc)
    return proc


@pytest.fixture(scope="module")
def site(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("ui-site")
    root, data_dir = base / "backups", base / "data"
    root.mkdir()
    data_dir.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "DATABASE_URL"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "backupmanager.settings",
            "DATABASE_URL": f"sqlite:///{data_dir / 'metadata.sqlite3'}",
            # DEBUG serves the (local) static files through runserver without collectstatic.
            "DEBUG": "true",
            "SECRET_KEY": "ui-test-site-secret-key-0123456789abcdef0123456789",
            "BM_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "BM_DATA_DIR": str(data_dir),
            "BM_ALLOWED_ROOTS": str(root),
            "BM_SQLITE_ROOTS": str(base / "sqlite"),
            "BM_ALLOW_REGISTRATION": "true",
            "BM_LOG_LEVEL": "WARNING",
            # The worker keeps the tests' priority: on a busy CI machine a niced worker waits.
            "BM_WORKER_NICE": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    # A module with SITE_PRODUCTION = True gets the site as bin/run serves it: DEBUG off (the site's
    # own 404 page instead of Django's debug page), static files collected and served by whitenoise;
    # only HTTPS stays off (plain http on 127.0.0.1).
    production = getattr(request.module, "SITE_PRODUCTION", False)
    if production:
        env.update(
            {
                "DEBUG": "false",
                "BM_SECURE_SSL_REDIRECT": "false",
                "BM_SECURE_COOKIES": "false",
                "BM_HSTS_SECONDS": "0",
            }
        )
    site = Site(
        url=f"http://127.0.0.1:{port}", root=root, data_dir=data_dir, env=env, sqlite_root=base / "sqlite"
    )
    for command in (["migrate"], ["collectstatic", "-v0"]) if production else (["migrate"],):
        done = subprocess.run(
            [sys.executable, "manage.py", *command, "--noinput"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    _start(site, "web", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks")
    _start(site, "worker", "runscheduler", "--grace", "5")
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(site.url + "/accounts/login/", timeout=2).read()
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline or any(p.poll() is not None for p in site.procs):
                pytest.fail("the site did not start:\n" + site.logs())
            time.sleep(0.2)
    yield site
    for proc in site.procs:
        proc.terminate()
    for proc in site.procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.log_file.close()


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
def new_page(browser):
    """Open pages in fresh browser contexts (one per user); each records its JS errors."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
