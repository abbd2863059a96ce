"""Encrypted backups end to end through the runner: age files the `age` CLI opens, manifests beside
every copy, restores with a kept or a given secret key, and failing closed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from apps.backups import runner, services
from apps.backups.models import Backup, Restore
from apps.backups.restore import run_restore
from apps.keys.models import GroupKey
from apps.keys.services import create_key
from tests.backups.conftest import file_sha256, make_sqlite_file, table_digest

pytestmark = pytest.mark.skipif(shutil.which("age") is None, reason="the age CLI is installed by bin/test")


def decrypt_with_cli(path: str, identity: str, tmp_path: Path) -> bytes:
    """age -d -i key.txt file | zstd -d, as a person with only the key file would."""
    key_file = tmp_path / "key.txt"
    key_file.write_text(identity + "\n")
    key_file.chmod(0o600)
    age = subprocess.run(["age", "-d", "-i", str(key_file), path], capture_output=True, check=True)
    return subprocess.run(["zstd", "-d", "-c"], input=age.stdout, capture_output=True, check=True).stdout


@pytest.fixture
def keyed(sqlite_database, make_destination):
    """The SQLite database encrypted to a generated key; returns (database, key, identity)."""

    def make(keep: bool):
        new = create_key(sqlite_database.group, f"key-{keep}", keep_identity=keep)
        sqlite_database.encryption_key = new.key
        sqlite_database.save()
        make_destination(sqlite_database, name="first")
        make_destination(sqlite_database, name="second")
        return sqlite_database, new.key, new.identity

    return make


@pytest.fixture
def target(make_database, tmp_path):
    return make_database(
        name="target", database_name=str(make_sqlite_file(tmp_path / "target.sqlite3", rows=3))
    )


def test_an_encrypted_backup_opens_with_the_age_cli_and_has_a_manifest_without_secrets(
    keyed, make_backup, tmp_path
):
    database, key, identity = keyed(keep=False)
    backup = runner.run_backup(make_backup(database))

    assert backup.status == Backup.Status.COMPLETED, backup.error
    assert backup.file_name.endswith(".sqlite3.zst.age")
    assert (backup.encrypted, backup.encryption_recipient) == (True, key.recipient)
    for copy in backup.copies.all():
        assert file_sha256(copy.location) == backup.checksum_sha256  # the checksum is of the ciphertext
        plain = tmp_path / f"plain-{copy.pk}.sqlite3"
        plain.write_bytes(decrypt_with_cli(copy.location, identity, tmp_path))
        assert table_digest(str(plain)) == table_digest(database.database_name)
        text = Path(copy.location + ".manifest.json").read_text()
        manifest = json.loads(text)
        assert manifest["sha256"] == backup.checksum_sha256 and manifest["size_bytes"] == backup.size_bytes
        assert manifest["encryption"] == {"format": "age-v1", "recipient": key.recipient}
        assert manifest["database"] == {"name": database.name, "engine": "sqlite"}
        assert manifest["restore"].startswith(f"age -d -i key.txt {backup.file_name} | zstd -d")
        assert "AGE-SECRET-KEY" not in text


def test_a_key_the_group_keeps_restores_without_asking(keyed, make_backup, target, user):
    database, _, _ = keyed(keep=True)
    backup = runner.run_backup(make_backup(database))
    restore = services.request_restore(backup, target, user, target.database_name)
    assert restore.identity == ""
    restore = run_restore(restore)
    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert table_digest(target.database_name) == table_digest(database.database_name)


def test_a_key_not_kept_must_come_with_the_restore_and_is_forgotten_after(keyed, make_backup, target, user):
    database, key, identity = keyed(keep=False)
    backup = runner.run_backup(make_backup(database))

    with pytest.raises(ValidationError) as missing:
        services.request_restore(backup, target, user, target.database_name)
    assert "does not keep that secret key" in missing.value.message_dict["identity"][0]
    other_identity = create_key(database.group, "other").identity
    with pytest.raises(ValidationError) as wrong:
        services.request_restore(backup, target, user, target.database_name, identity=other_identity)
    assert "does not open this backup" in wrong.value.message_dict["identity"][0]
    assert not Restore.objects.exists()

    restore = services.request_restore(backup, target, user, target.database_name, identity=identity)
    restore = run_restore(restore)
    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert table_digest(target.database_name) == table_digest(database.database_name)
    assert Restore.objects.get(pk=restore.pk).identity == ""  # the secret key is not kept after the run


def test_a_wrong_key_fails_the_restore_before_the_target_is_touched(keyed, make_backup, target):
    database, _, _ = keyed(keep=False)
    backup = runner.run_backup(make_backup(database))
    before = table_digest(target.database_name)
    wrong = create_key(database.group, "wrong").identity
    restore = Restore.objects.create(backup=backup, target_database=target, identity=wrong)

    restore = run_restore(restore)

    assert restore.status == Restore.Status.FAILED
    assert "cannot be decrypted" in restore.error and "no identity matches" in restore.error
    assert wrong not in restore.error
    assert table_digest(target.database_name) == before


def test_a_database_whose_key_cannot_be_used_fails_and_writes_nothing(keyed, make_backup):
    database, key, _ = keyed(keep=False)
    GroupKey.objects.filter(pk=key.pk).update(recipient="age1notakey")

    backup = runner.run_backup(make_backup(database))

    assert backup.status == Backup.Status.FAILED
    assert backup.error.startswith("Encryption could not be set up: Not a valid age recipient")
    for dest in database.destinations.all():
        assert list(Path(dest.path).iterdir()) == []
