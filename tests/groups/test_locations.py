"""Groups share no files: each has its own folders under the roots; the superuser may share one.

An attacker owns group B and tries to reach group A's SQLite file and backup folder through
every door: registering the file, testing it, pointing a destination at A's folder, browsing it,
and databases or destinations saved before the rule (rows that never went through clean()).
"""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.databases.models import Database
from apps.destinations.models import Destination
from apps.destinations.storage import StorageError, get_storage
from apps.engines import get_engine
from apps.engines.base import EngineError
from apps.groups import locations
from apps.groups.models import GroupLocation

pytestmark = pytest.mark.django_db


def make_db(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE secrets (x)")
    db.execute("INSERT INTO secrets VALUES ('group A only')")
    db.commit()
    db.close()
    return path


class Site:
    pass


@pytest.fixture
def site(settings, tmp_path, make_group, user, other_user, client):
    s = Site()
    s.sqlite_root, s.backup_root = tmp_path / "sqlite", tmp_path / "backups"
    s.sqlite_root.mkdir()
    s.backup_root.mkdir()
    settings.BM_SQLITE_ROOTS = [str(s.sqlite_root)]
    settings.BM_ALLOWED_ROOTS = [str(s.backup_root)]
    s.a = make_group(owner=user, name="victims", own_folders_only=True)
    s.b = make_group(owner=other_user, name="attackers", own_folders_only=True)
    s.a_sqlite = s.sqlite_root / f"group-{s.a.pk}"
    s.b_sqlite = s.sqlite_root / f"group-{s.b.pk}"
    s.a_backups = s.backup_root / f"group-{s.a.pk}"
    s.b_backups = s.backup_root / f"group-{s.b.pk}"
    locations.folders(s.a.pk, locations.SQLITE, create=True)
    locations.folders(s.b.pk, locations.SQLITE, create=True)
    s.victim_file = make_db(s.a_sqlite / "shop.db")
    s.attacker = APIClient()
    s.attacker.force_authenticate(other_user)
    s.owner = APIClient()
    s.owner.force_authenticate(user)
    s.b_db = Database.objects.create(
        group=s.b, name="mine", engine="sqlite", database_name=str(make_db(s.b_sqlite / "mine.db"))
    )
    client.force_login(other_user)
    s.page = client
    return s


def test_each_group_lists_its_own_folders_created_0750(site):
    body = site.owner.get(f"/api/groups/{site.a.pk}/locations/").json()
    assert sorted((row["kind"], row["path"]) for row in body) == [
        ("backups", str(site.a_backups)),
        ("sqlite", str(site.a_sqlite)),
    ]
    assert all(isinstance(row["id"], int) for row in body)
    assert stat.S_IMODE(os.stat(site.a_backups).st_mode) == 0o750
    assert site.attacker.get(f"/api/groups/{site.a.pk}/locations/").status_code == 404


def test_registering_another_groups_sqlite_file_is_refused(site):
    body = {
        "group_id": site.b.pk,
        "name": "stolen",
        "engine": "sqlite",
        "database_name": str(site.victim_file),
    }
    response = site.attacker.post("/api/databases/", body, format="json")
    assert response.status_code == 400 and "group's SQLite folders" in response.json()["database_name"][0]
    assert not Database.objects.filter(name="stolen").exists()
    patch = site.attacker.patch(
        f"/api/databases/{site.b_db.pk}", {"database_name": str(site.victim_file)}, format="json"
    )
    assert patch.status_code == 400


def test_test_connection_does_not_tell_whether_a_file_outside_the_folders_exists(site):
    def probe(path):
        body = {"group_id": site.b.pk, "engine": "sqlite", "database_name": str(path)}
        response = site.attacker.post("/api/databases/test-connection", body, format="json")
        return response.status_code, response.content.decode().replace(str(path), "PATH")

    assert probe(site.victim_file) == probe(site.a_sqlite / "no-such.db")
    assert probe(site.victim_file)[0] == 400


def test_a_database_saved_before_the_rule_can_neither_be_backed_up_nor_restored_over(site, tmp_path):
    # A row that never went through clean() (e.g. made before the upgrade) points at A's file.
    stolen = Database.objects.create(
        group=site.b, name="old", engine="sqlite", database_name=str(site.victim_file)
    )
    engine = get_engine("sqlite")
    conn = stolen.connection_info()
    assert engine.test_connection(conn).ok is False
    with pytest.raises(EngineError, match="SQLite folders"):
        engine.dump(conn, timeout=5, workdir=tmp_path)
    before = site.victim_file.read_bytes()
    with pytest.raises(EngineError, match="SQLite folders"), open(site.b_sqlite / "mine.db", "rb") as source:
        engine.restore(conn, source, timeout=5, workdir=tmp_path)
    assert site.victim_file.read_bytes() == before


def test_a_restore_onto_a_file_of_the_group_that_is_not_sqlite_is_refused(site, tmp_path):
    notes = site.b_sqlite / "notes.txt"
    notes.write_text("not a database")
    target = Database.objects.create(group=site.b, name="notes", engine="sqlite", database_name=str(notes))
    with (
        pytest.raises(EngineError, match="not a SQLite database"),
        open(site.b_sqlite / "mine.db", "rb") as src,
    ):
        get_engine("sqlite").restore(target.connection_info(), src, timeout=5, workdir=tmp_path)
    assert notes.read_text() == "not a database"


def test_a_destination_in_another_groups_folder_is_refused_at_every_door(site):
    url = f"/api/databases/{site.b_db.pk}/destinations/"
    target = str(site.a_backups / "loot")
    response = site.attacker.post(url, {"name": "loot", "path": target}, format="json")
    assert response.status_code == 400 and "this group's backup folders" in response.json()["path"][0]
    check = site.attacker.post(url + "validate-path", {"path": str(site.a_backups)}, format="json").json()
    assert check["valid"] is False
    page = site.page.post(
        reverse("destinations:create", args=[site.b_db.pk]), {"name": "loot", "path": target, "enabled": "on"}
    )
    assert page.status_code == 200 and "this group&#x27;s backup folders" in page.content.decode()
    assert not Destination.objects.filter(name="loot").exists()
    assert not os.path.exists(target)
    own = site.attacker.post(url, {"name": "fine", "path": str(site.b_backups / "nightly")}, format="json")
    assert own.status_code == 201, own.json()


def test_the_picker_lists_and_browses_only_the_callers_group_folders(site):
    (site.a_backups / "secret-project").mkdir(parents=True)
    browse = reverse("destinations:browse", args=[site.b_db.pk])
    roots = site.page.get(browse).content.decode()
    assert str(site.b_backups) in roots and str(site.a_backups) not in roots
    inside_a = site.page.get(browse, {"path": str(site.a_backups)}).content.decode()
    assert "secret-project" not in inside_a and "outside this group" in inside_a
    check = site.page.get(reverse("destinations:check", args=[site.b_db.pk]), {"path": str(site.a_backups)})
    assert "outside this group" in check.content.decode()
    a_db = Database.objects.create(
        group=site.a, name="a", engine="sqlite", database_name=str(site.victim_file)
    )
    assert site.page.get(reverse("destinations:browse", args=[a_db.pk])).status_code == 404


def test_a_local_writer_refuses_a_folder_outside_its_group_saved_before_the_rule(site):
    dest = Destination.objects.create(database=site.b_db, name="old", path=str(site.a_backups))
    with pytest.raises(StorageError, match="not one of its group's backup folders"):
        get_storage(dest).open_writer("x.sqlite3.zst")
    assert not site.a_backups.exists() or list(site.a_backups.iterdir()) == []


def test_a_folder_the_superuser_grants_to_both_groups_works_for_both(site, admin_client, tmp_path):
    shared = tmp_path / "shared"
    (shared / "data").mkdir(parents=True)
    make_db(shared / "data" / "common.db")
    for group in (site.a, site.b):
        GroupLocation.objects.create(group=group, kind="sqlite", path=str(shared / "data"))
    response = admin_client.post(
        reverse("admin:groups_grouplocation_add"),
        {"group": site.b.pk, "kind": "backups", "path": str(shared / "backups")},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    GroupLocation.objects.create(group=site.a, kind="backups", path=str(shared / "backups"))
    for client, group in ((site.owner, site.a), (site.attacker, site.b)):
        body = {
            "group_id": group.pk,
            "name": "common",
            "engine": "sqlite",
            "database_name": str(shared / "data" / "common.db"),
        }
        created = client.post("/api/databases/", body, format="json")
        assert created.status_code == 201, created.json()
        db_id = created.json()["id"]
        assert client.post(f"/api/databases/{db_id}/test").json()["ok"] is True
        dest = client.post(
            f"/api/databases/{db_id}/destinations/",
            {"name": "s", "path": str(shared / "backups" / group.name)},
            format="json",
        )
        assert dest.status_code == 201, dest.json()


def test_group_folders_lists_paths_left_outside_their_groups_folders(site, capsys):
    from django.core.management import CommandError, call_command

    call_command("group_folders")
    assert (
        "Every SQLite database and local destination lies in its group's folders." in capsys.readouterr().out
    )
    Database.objects.create(group=site.b, name="old", engine="sqlite", database_name=str(site.victim_file))
    Destination.objects.create(database=site.b_db, name="old-dest", path=str(site.a_backups))
    with pytest.raises(CommandError, match="2 path"):
        call_command("group_folders")
    out = capsys.readouterr().out
    assert "OUTSIDE database" in out and str(site.victim_file) in out and "OUTSIDE destination" in out
    assert f"sqlite   {site.a_sqlite} (own)" in out
