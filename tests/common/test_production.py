"""Serving for real: error pages with DEBUG off, keys and file modes, logs, bin/run and bin/manage."""

import json
import logging
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from apps.accounts.models import Membership
from apps.common.logformat import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra) -> dict[str, str]:
    """The environment of a user's shell: none of the suite's settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BM_", "DATABASE_URL", "SECRET_KEY", "DEBUG", "DJANGO_", "PYTEST"))
    }
    env.update(extra)
    return env


# --- error pages -----------------------------------------------------------------------------


def test_debug_is_off_in_these_tests():
    assert django_settings.DEBUG is False


@pytest.mark.django_db
def test_an_unknown_page_is_a_404_in_the_sites_layout_with_navigation_and_no_url_map(client, user):
    client.force_login(user)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert 'aria-label="Main"' in page and "Dashboard" in page  # the site's navigation
    assert "Not found" in page and "There is nothing at this address" in page
    assert "URLconf" not in page and "Page not found (404)" not in page  # not Django's debug page


@pytest.mark.django_db
def test_a_404_for_someone_signed_out_offers_to_sign_in(client):
    page = client.get("/no/such/page/").content.decode()
    assert "Sign in" in page and "Not found" in page


@pytest.mark.django_db
def test_a_refusal_is_a_403_page_naming_the_role_and_group_it_needs(
    client, make_group, make_database, user, other_user
):
    database = make_database()
    Membership.objects.create(user=other_user, group=database.group, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    response = client.post(f"/backups/run/{database.pk}/")
    assert response.status_code == 403
    page = response.content.decode()
    assert f"This needs the operator role in group &#x27;{database.group.name}&#x27;." in page
    assert 'aria-label="Main"' in page and "Not allowed" in page


@pytest.mark.django_db
def test_a_form_post_without_its_csrf_token_is_a_403_page_that_says_what_to_do(user):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Reload the page and try again" in page and "CSRF verification failed" not in page


@pytest.mark.django_db
def test_a_bad_host_header_is_a_400_page():
    response = Client().get("/accounts/login/", HTTP_HOST="bad host!")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Bad request" in page and "DisallowedHost" not in page


@pytest.mark.django_db
@pytest.mark.urls("tests.common.errors_urls")
def test_a_crash_is_a_500_page_in_the_layout_without_internals(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.get("/boom")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page and 'aria-label="Main"' in page
    assert "RuntimeError" not in page and "secret-path" not in page and "Traceback" not in page


@pytest.mark.django_db
@pytest.mark.urls("tests.common.errors_urls")
def test_when_even_the_500_layout_fails_a_plain_page_still_has_a_main_landmark_and_a_way_back(
    user, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the layout needs the database, which is down")

    monkeypatch.setattr("apps.common.errors.loader.render_to_string", broken)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.get("/boom")
    assert response.status_code == 500
    page = response.content.decode()
    assert page.startswith('<!doctype html><html lang="en">') and "<main><h1>Something went wrong" in page
    assert '<a href="/">Back to the dashboard</a>' in page
    assert "RuntimeError" not in page and "database, which is down" not in page


@pytest.mark.django_db
@pytest.mark.urls("tests.common.errors_urls")
def test_api_errors_stay_json(api_client):
    assert api_client.get("/api/no-such-thing/").json() == {"detail": DEFAULT_404}
    assert api_client.get("/api/no-such-thing/").status_code == 404
    crash = Client(raise_request_exception=False).get("/api/boom")
    assert crash.status_code == 500 and crash["Content-Type"] == "application/json"
    assert "RuntimeError" not in crash.content.decode()
    # DRF's own errors are untouched.
    missing = api_client.get("/api/backups/999999")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"


DEFAULT_404 = "There is nothing at this address, or it belongs to a group you are not a member of."


# --- keys, modes -----------------------------------------------------------------------------


def run_django(code: str, data_dir: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean_env(DJANGO_SETTINGS_MODULE="backupmanager.settings", BM_DATA_DIR=str(data_dir), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.own_metadata  # its processes use their own data folder and metadata
def test_keys_generated_once_are_found_with_debug_off_and_everything_in_the_data_dir_is_private(tmp_path):
    data = tmp_path / "data"
    code = "from django.conf import settings as s; print(s.SECRET_KEY, s.BM_ENCRYPTION_KEYS[0], s.DEBUG)"
    first = run_django(
        code + "; from django.db import connection; connection.ensure_connection()",
        data,
        BM_GENERATE_KEYS="true",
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[2] == "False"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ["secret_key", "encryption.key", "metadata.sqlite3"]:
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((data / "staticfiles").stat().st_mode) == 0o700
    # Later, nothing exported: the same keys, found in the folder.
    again = run_django(code, data)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout


@pytest.mark.own_metadata  # its processes use their own data folder and metadata
def test_without_keys_or_generated_files_and_debug_off_startup_stops_naming_the_variable(tmp_path):
    result = run_django("", tmp_path / "data", SECRET_KEY="given-0123456789-given-0123456789-given")
    assert result.returncode != 0
    assert "ImproperlyConfigured: BM_ENCRYPTION_KEYS is not set" in result.stderr
    assert not (tmp_path / "data" / "encryption.key").exists()


@pytest.mark.own_metadata  # its processes use their own data folder and metadata
def test_the_proxy_headers_are_trusted_only_when_configured(tmp_path):
    code = "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER, s.USE_X_FORWARDED_HOST)"
    plain = run_django(code, tmp_path / "a", BM_GENERATE_KEYS="true")
    assert plain.stdout.split() == ["None", "False"], plain.stderr
    proxied = run_django(code, tmp_path / "b", BM_GENERATE_KEYS="true", BM_BEHIND_PROXY="true")
    assert proxied.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https') True", proxied.stderr


# --- logs ------------------------------------------------------------------------------------


def test_json_log_lines_carry_the_run_context_given_as_extra():
    record = logging.LogRecord(
        "apps.backups.runner", logging.INFO, __file__, 1, "Backup %s: %s", (7, "done"), None
    )
    record.run_id, record.database, record.event = 7, "shop", "backup"
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "INFO" and line["logger"] == "apps.backups.runner"
    assert line["message"] == "Backup 7: done" and line["time"].endswith("+00:00")
    assert (line["run_id"], line["database"], line["event"]) == (7, "shop", "backup")
    assert "destination" not in line


def run_worker_once(tmp_path, **env_vars) -> str:
    """`manage.py runscheduler --once` on a fresh data folder with `env_vars`; its output, exit 0."""
    env = clean_env(
        DJANGO_SETTINGS_MODULE="backupmanager.settings",
        BM_DATA_DIR=str(tmp_path / "data"),
        BM_GENERATE_KEYS="true",
        **env_vars,
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "runscheduler", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr


@pytest.mark.own_metadata  # its processes use their own data folder and metadata
def test_the_worker_writes_each_line_once_and_as_json_when_asked(tmp_path):
    text = run_worker_once(tmp_path, BM_LOG_FORMAT="json")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    stopped = [line for line in lines if line["message"].endswith(" stopped")]
    assert len(stopped) == 1 and stopped[0]["logger"] == "apps.schedules.worker"
    assert stopped[0]["event"] == "worker"
    assert django_settings.SECRET_KEY not in text
    assert (tmp_path / "data" / "secret_key").read_text().strip() not in text


@pytest.mark.own_metadata  # its processes use their own data folder and metadata
def test_the_worker_lowers_its_cpu_priority_to_bm_worker_nice_and_never_raises_it(tmp_path):
    text = run_worker_once(tmp_path, BM_WORKER_NICE="7")
    expected = max(7, os.getpriority(os.PRIO_PROCESS, 0))
    assert f"runs at CPU priority nice {expected} (BM_WORKER_NICE)" in text


# --- bin/run, bin/manage ---------------------------------------------------------------------


@pytest.mark.own_metadata  # its processes use their own data folder and metadata
def test_bin_run_help_prints_only_its_usage():
    out = subprocess.run([str(ROOT / "bin/run"), "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.startswith("Run BackupManager")
    assert "set -e" not in out.stdout and "trap" not in out.stdout
    assert out.stdout.rstrip().endswith("(a demo user, group and schedule)")


@pytest.mark.own_metadata  # its processes use their own data folder and metadata
def test_bin_run_on_a_busy_port_names_bm_bind_and_starts_nothing(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [str(ROOT / "bin/run")],
            env=clean_env(BM_DATA_DIR=str(tmp_path / "data"), BM_BIND=f"127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "BM_BIND" in out.stderr
    assert "nothing was started" in out.stderr
    assert not (tmp_path / "data").exists()  # not migrated, no worker: nothing ran


@pytest.mark.own_metadata  # its processes use their own data folder and metadata
def test_bin_manage_runs_commands_from_any_folder_with_nothing_exported(tmp_path):
    env = clean_env(BM_DATA_DIR=str(tmp_path / "data"))
    out = subprocess.run(
        [str(ROOT / "bin/manage"), "migrate", "-v0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    out = subprocess.run(
        [str(ROOT / "bin/manage"), "check"], cwd="/", env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "no issues" in out.stdout
    assert stat.S_IMODE((tmp_path / "data" / "secret_key").stat().st_mode) == 0o600


@pytest.mark.own_metadata  # its processes use their own data folder and metadata
def test_the_cache_throttles_use_is_in_the_database_shared_by_every_process(tmp_path):
    data = tmp_path / "data"
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env=clean_env(
            DJANGO_SETTINGS_MODULE="backupmanager.settings", BM_DATA_DIR=str(data), BM_GENERATE_KEYS="true"
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr
    code = "from django.core.cache import cache; "
    one = run_django(code + "cache.set('bm-shared', 41, 60)", data)
    assert one.returncode == 0, one.stderr
    other = run_django(code + "print(cache.get('bm-shared'))", data)  # another process
    assert other.stdout.strip() == "41", other.stderr
