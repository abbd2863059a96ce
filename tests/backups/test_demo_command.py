"""`manage.py demo`: a ready demo group whose schedule produces a real backup."""

import sqlite3
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.accounts.models import Membership
from apps.databases.models import Database
from apps.engines import get_engine
from apps.schedules.models import Schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_settings(settings, backup_root, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    # Its own SQLite folder: tests running at once must not fill one demo file together.
    settings.BM_SQLITE_ROOTS = [str(tmp_path / "sqlite")]
    return settings


def test_demo_creates_a_user_group_sqlite_database_destination_and_every_minute_schedule(
    demo_settings, backup_root, capsys
):
    call_command("demo", password="demo-pass-123!")
    out = capsys.readouterr().out
    assert "Demo ready." in out and "demo-pass-123!" in out
    database = Database.objects.get(name="demo-shop")
    membership = Membership.objects.get(group=database.group)
    assert membership.user.username == "demo" and membership.role == "owner"
    # Its password is a published default: never an administrator, even as the first account.
    assert membership.user.check_password("demo-pass-123!") and not membership.user.is_superuser
    assert "start the worker" not in out  # bin/run already started one
    rows = sqlite3.connect(database.database_name).execute("SELECT count(*) FROM orders").fetchone()[0]
    assert rows == 3000
    assert get_engine("sqlite").test_connection(database.connection_info()).ok
    destination = database.destinations.get()
    assert Path(destination.path).is_dir() and Path(destination.path).parent.parent == backup_root.resolve()
    schedule = Schedule.objects.get(database=database)
    assert schedule.cron_expression == "* * * * *" and schedule.enabled and schedule.next_run_at is not None


def test_demo_can_run_twice_without_duplicates(demo_settings):
    call_command("demo")
    call_command("demo")
    assert Database.objects.filter(name="demo-shop").count() == 1
    assert Schedule.objects.count() == 1
    assert (
        sqlite3.connect(Database.objects.get().database_name)
        .execute("SELECT count(*) FROM orders")
        .fetchone()[0]
        == 3000
    )


def test_the_demo_database_backs_up_to_its_destination(demo_settings):
    from apps.backups.models import Backup
    from apps.backups.runner import run_backup

    call_command("demo")
    database = Database.objects.get(name="demo-shop")
    backup = run_backup(Backup.objects.create(database=database, trigger="manual"))
    assert backup.status == "completed", backup.error
    copy = backup.copies.get()
    assert Path(copy.location).is_file()
