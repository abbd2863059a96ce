import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from apps.common import crypto
from apps.databases.models import Database

ROOT = Path(__file__).resolve().parents[2]


def run_django(code: str, env: dict, tmp_path) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BM_", "DATABASE_URL", "SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC"))
    }
    base.update({"DJANGO_SETTINGS_MODULE": "backupmanager.settings", "BM_DATA_DIR": str(tmp_path / "data")})
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_secret_key_and_debug_off_startup_stops_with_a_clear_message(tmp_path):
    result = run_django("", {}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_local_run_generates_the_secret_and_encryption_keys_as_0600_files(tmp_path):
    result = run_django(
        "from django.conf import settings; print(settings.BM_ENCRYPTION_KEYS[0])", {"DEBUG": "true"}, tmp_path
    )
    assert result.returncode == 0, result.stderr
    for name in ["secret_key", "encryption.key"]:
        mode = stat.S_IMODE((tmp_path / "data" / name).stat().st_mode)
        assert mode == 0o600, name
    again = run_django(
        "from django.conf import settings; print(settings.BM_ENCRYPTION_KEYS[0])", {"DEBUG": "true"}, tmp_path
    )
    assert again.stdout == result.stdout  # the same key on the next start


@pytest.mark.parametrize(
    "env, message",
    [
        ({"BM_WORKER_CONCURRENCY": "lots"}, "BM_WORKER_CONCURRENCY must be an integer"),
        ({"BM_ALLOW_REGISTRATION": "maybe"}, "BM_ALLOW_REGISTRATION must be true or false"),
        ({"BM_ALLOWED_ROOTS": "relative/dir"}, "is not an absolute path"),
        ({"BM_ENCRYPTION_KEYS": "not-a-key"}, "Fernet keys"),
    ],
)
def test_bad_configuration_values_stop_startup_naming_the_variable(tmp_path, env, message):
    code = "from apps.common.crypto import encrypt; encrypt('x')"
    result = run_django(code, {"DEBUG": "true", **env}, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_secret_key_file_is_read(tmp_path):
    key_file = tmp_path / "sk"
    key_file.write_text("from-a-file-0123456789\n")
    result = run_django(
        "from django.conf import settings; print(settings.SECRET_KEY)",
        {"SECRET_KEY_FILE": str(key_file), "BM_ENCRYPTION_KEYS": Fernet.generate_key().decode()},
        tmp_path,
    )
    assert result.stdout.strip() == "from-a-file-0123456789"


def test_check_deploy_passes_without_warnings_in_a_production_like_environment(tmp_path):
    env = {
        "SECRET_KEY": Fernet.generate_key().decode() * 2,
        "BM_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "backups.example.com",
    }
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BM_", "DATABASE_URL", "SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC"))
    }
    base.update(
        {"BM_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "backupmanager.settings", **env}
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_keys_rotate_old_secrets_still_decrypt_and_rotate_keys_moves_them_to_the_new_key(
    settings, make_database
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.BM_ENCRYPTION_KEYS = [old]
    database = make_database(password="hunter2-secret")
    settings.BM_ENCRYPTION_KEYS = [new, old]
    assert Database.objects.get(pk=database.pk).password == "hunter2-secret"
    call_command("rotate_keys", stdout=open(os.devnull, "w"))
    settings.BM_ENCRYPTION_KEYS = [new]
    assert Database.objects.get(pk=database.pk).password == "hunter2-secret"
    with connection.cursor() as cur:
        cur.execute("SELECT password FROM databases_database WHERE id = %s", [database.pk])
        assert "hunter2" not in cur.fetchone()[0]


def test_a_token_from_an_unknown_key_is_a_clear_error(settings):
    settings.BM_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = crypto.encrypt("x")
    settings.BM_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionError, match="cannot be decrypted"):
        crypto.decrypt(token)
