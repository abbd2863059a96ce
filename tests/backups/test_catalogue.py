"""`manage.py catalogue import`: a lost catalogue is rebuilt from the manifests beside the copies."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.backups import runner
from apps.backups.models import Backup, BackupCopy, Restore
from apps.backups.restore import run_restore
from apps.backups.verification import verify_now
from tests.backups.conftest import make_sqlite_file, table_digest


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def lost(sqlite_database, make_destination, make_backup):
    """Two backups at two destinations, then the catalogue is lost (the records, not the files)."""
    first, second = make_destination(sqlite_database, name="a"), make_destination(sqlite_database, name="b")
    made = [runner.run_backup(make_backup(sqlite_database)) for _ in range(2)]
    assert all(b.status == "completed" for b in made)
    expected = {(b.file_name, b.checksum_sha256, b.size_bytes) for b in made}
    Backup.objects.all().delete()
    return first, second, expected


def test_it_rebuilds_the_records_of_each_backup_once_with_a_copy_per_destination(lost):
    first, second, expected = lost

    assert "2 backup(s) imported, 0 gained a copy, 0 already on record" in run(
        "catalogue", "import", str(first.pk)
    )
    assert "0 backup(s) imported, 2 gained a copy" in run("catalogue", "import", str(second.pk))
    assert "0 backup(s) imported, 0 gained a copy, 2 already on record" in run(
        "catalogue", "import", str(first.pk)
    )

    assert {(b.file_name, b.checksum_sha256, b.size_bytes) for b in Backup.objects.all()} == expected
    for backup in Backup.objects.all():
        assert backup.status == "completed"
        assert sorted(backup.copies.values_list("destination_name", flat=True)) == ["a", "b"]


def test_imported_backups_verify_and_restore(lost, make_database, tmp_path, sqlite_database):
    first, _, _ = lost
    run("catalogue", "import", str(first.pk))
    backup = Backup.objects.order_by("-created_at").first()

    assert verify_now(backup).ok is True
    target = make_database(name="t", database_name=str(make_sqlite_file(tmp_path / "t.sqlite3", rows=1)))
    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))
    assert restore.status == "completed", restore.error
    assert table_digest(target.database_name) == table_digest(sqlite_database.database_name)


def test_a_manifest_that_does_not_match_its_file_is_skipped_and_said(lost):
    first, _, _ = lost
    manifests = sorted(Path(first.path).glob("*.manifest.json"))
    manifests[0].write_text("{not json")
    data = Path(str(manifests[1])[: -len(".manifest.json")])
    data.write_bytes(data.read_bytes()[:-1])  # truncated

    err = io.StringIO()
    with pytest.raises(CommandError, match="No manifest could be imported"):
        call_command("catalogue", "import", str(first.pk), stdout=io.StringIO(), stderr=err)
    assert "not JSON" in err.getvalue()
    assert "the manifest says" in err.getvalue()
    assert not BackupCopy.objects.exists()


def test_an_unknown_destination_is_a_clear_error(db):
    with pytest.raises(CommandError, match="Destination 999 does not exist"):
        run("catalogue", "import", "999")
