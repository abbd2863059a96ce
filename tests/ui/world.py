"""A small populated world for the HTML view tests: one group with an owner, an operator,
a viewer and an outsider; a SQLite database with a destination, a schedule and a finished
backup whose file is on disk. Import `world_fixture` into a test module to get the `world` fixture."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Membership

PASSWORD = "pw-for-tests-123!"


@dataclass
class World:
    owner: object
    operator: object
    viewer: object
    outsider: object
    group: object
    database: object
    destination: object
    schedule: object
    backup: object
    copy: object
    restore: object
    file: Path

    def client_for(self, user) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client


def make_sqlite(path: Path) -> Path:
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO t (name) VALUES (?)", [(f"row {i}",) for i in range(20)])
    db.close()
    return path


@pytest.fixture(name="world")
def world_fixture(
    db, backup_root, tmp_path, group, make_database, make_destination, make_schedule, user, other_user
):
    from apps.backups.models import Backup, BackupCopy, Restore

    User = get_user_model()
    operator = User.objects.create_user("olga", "olga@example.com", PASSWORD)
    viewer = User.objects.create_user("victor", "victor@example.com", PASSWORD)
    Membership.objects.create(user=operator, group=group, role=Membership.Role.OPERATOR)
    Membership.objects.create(user=viewer, group=group, role=Membership.Role.VIEWER)
    database = make_database(
        group=group, name="orders", database_name=str(make_sqlite(tmp_path / "orders.sqlite3"))
    )
    destination = make_destination(database, name="primary")
    schedule = make_schedule(database, name="nightly")
    content = b"backup-bytes " * 100
    file = Path(destination.path) / "orders_20250101T000000Z_1.sqlite.zst"
    file.write_bytes(content)
    now = timezone.now()
    backup = Backup.objects.create(
        database=database,
        status=Backup.Status.COMPLETED,
        created_at=now,
        started_at=now,
        finished_at=now,
        size_bytes=len(content),
        checksum_sha256=hashlib.sha256(content).hexdigest(),
        file_name=file.name,
        compression="zstd",
    )
    copy = BackupCopy.objects.create(
        backup=backup,
        destination=destination,
        destination_name=destination.name,
        location=str(file),
        status=BackupCopy.Status.COMPLETED,
        size_bytes=len(content),
    )
    restore = Restore.objects.create(backup=backup, target_database=database, status=Restore.Status.COMPLETED)
    return World(
        user,
        operator,
        viewer,
        other_user,
        group,
        database,
        destination,
        schedule,
        backup,
        copy,
        restore,
        file,
    )


def assert_access(world: World, url: str, member=None, *, forbidden=()) -> None:
    """200 for `member` (default: the viewer), 403 for each user in `forbidden`,
    404 for the outsider, and a redirect to sign-in for anonymous visitors."""
    from django.urls import reverse

    member = member or world.viewer
    response = world.client_for(member).get(url)
    assert response.status_code == 200, f"{url} as {member}: {response.status_code}"
    for user in forbidden:
        assert world.client_for(user).get(url).status_code == 403, f"{url} as {user}"
    assert world.client_for(world.outsider).get(url).status_code == 404, f"{url} as outsider"
    anonymous = world.client_for(None).get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login") + "?next=")
