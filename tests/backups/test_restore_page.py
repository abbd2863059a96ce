"""The restore form (no default target, where each target is, a red warning for the source, the clean
choice) and a restore's own page (/restores/<id>/), polled while it runs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.backups.models import Backup, Restore
from apps.backups.restore import run_restore
from tests.ui.world import assert_access, world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def page(world, user=None):
    return world.client_for(user or world.operator).get(reverse("backups:restore", args=[world.backup.pk]))


def options(html: str) -> list[str]:
    return re.findall(r"<option[^>]*>[^<]*</option>", html)


def test_the_form_has_no_default_target_and_names_engine_host_port_and_database(world, make_database):
    make_database(
        name="orders-copy",
        engine="sqlite",
        database_name=str(world.file.parent / "x.sqlite3"),
        group=world.group,
    )
    make_database(name="pg-one", engine="postgresql", host="db1.internal", port=5433, database_name="shop")
    html = page(world).content.decode()

    listed = options(html)
    assert listed[0] == '<option value="" selected>Choose the target database…</option>'
    assert not [o for o in listed[1:] if " selected" in o]
    source = next(o for o in listed if f'value="{world.database.pk}"' in o)
    assert f"orders ({world.group.name}) — SQLite, file {world.database.database_name}" in source
    assert 'data-source="true"' in source and "the backup's own database" in source
    # The red warning is there for the script to show, hidden while no source is chosen.
    assert re.search(r'<p class="banner error" role="alert" data-source-warning hidden>', html)


def test_network_targets_read_engine_host_port_and_database(world, make_database):
    from apps.backups.views import target_label

    pg = make_database(
        name="pg-one", engine="postgresql", host="db1.internal", port=5433, database_name="shop"
    )
    mysql = make_database(name="my", engine="mysql", host="", port=None, database_name="app")
    assert target_label(pg) == f"pg-one ({pg.group.name}) — PostgreSQL, db1.internal:5433, database shop"
    assert target_label(mysql) == f"my ({mysql.group.name}) — MySQL / MariaDB, 127.0.0.1:3306, database app"


def test_choosing_the_source_shows_the_warning_after_a_refused_submit(world):
    response = world.client_for(world.operator).post(
        reverse("backups:restore", args=[world.backup.pk]), {"target": world.database.pk, "confirm": "nope"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r"data-source-warning>", html)  # not hidden
    assert "This target is the database the backup was taken from (orders)" in html


def test_a_submitted_restore_lands_on_its_own_page(world):
    url = reverse("backups:restore", args=[world.backup.pk])
    client = world.client_for(world.operator)
    response = client.post(
        url, {"target": world.database.pk, "confirm": world.database.database_name, "scope": "clean"}
    )
    restore = Restore.objects.get(status="pending")
    assert response.status_code == 302
    assert response["Location"] == reverse("backups:restore-detail", args=[restore.pk])
    assert restore.clean_restore is True

    html = client.get(response["Location"]).content.decode()
    assert f"Restore #{restore.pk} of backup #{world.backup.pk} into orders queued" in html
    assert "Clean restore: nothing that is not in the backup remains" in html
    assert "data-into-source" in html  # restoring into the backup's own database is said in red
    status = re.search(r'<div id="restore-status"[^>]*>', html).group(0)
    assert f'data-refresh-url="{reverse("backups:restore-status", args=[restore.pk])}"' in status
    assert 'data-refresh-seconds="2"' in status


def test_a_plain_restore_is_the_default_scope(world):
    world.client_for(world.operator).post(
        reverse("backups:restore", args=[world.backup.pk]),
        {"target": world.database.pk, "confirm": world.database.database_name},
    )
    assert Restore.objects.get(status="pending").clean_restore is False


def test_a_finished_restore_shows_timing_bytes_messages_and_copies_and_stops_polling(world):
    restore = Restore.objects.create(backup=world.backup, target_database=world.database)
    world.copy.location = str(world.file) + ".gone"
    world.copy.save()
    run_restore(restore)
    restore.refresh_from_db()
    assert restore.status == "failed"

    url = reverse("backups:restore-status", args=[restore.pk])
    response = world.client_for(world.viewer).get(url)
    html = response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert "data-refresh-url" not in html
    assert "Failed" in html and "Duration" in html and "Bytes read" in html
    assert f"File {world.file}.gone is missing" in html  # the message, whole

    # A copy that was read and refused is listed with its reason.
    world.copy.location = str(world.file)
    world.copy.save()
    restore = run_restore(Restore.objects.create(backup=world.backup, target_database=world.database))
    html = (
        world.client_for(world.viewer)
        .get(reverse("backups:restore-detail", args=[restore.pk]))
        .content.decode()
    )
    assert 'data-attempt="failed"' in html and "primary" in html and str(world.file) in html


def test_what_the_tool_said_shows_beside_the_copy_it_restored(world, make_destination, tmp_path):
    from apps.backups import runner

    make_destination(world.database, name="second")
    backup = runner.run_backup(Backup.objects.create(database=world.database))
    restore = run_restore(Restore.objects.create(backup=backup, target_database=world.database))
    assert restore.status == "completed", restore.error

    html = (
        world.client_for(world.viewer)
        .get(reverse("backups:restore-detail", args=[restore.pk]))
        .content.decode()
    )
    said = re.search(r"<pre [^>]*data-tool-messages>([^<]*)</pre>", html).group(1)
    assert said.endswith("bytes checked (PRAGMA integrity_check: ok) and swapped in")


def test_restore_pages_answer_members_and_hide_from_outsiders(world):
    assert_access(world, reverse("backups:restore-detail", args=[world.restore.pk]))
    assert_access(world, reverse("backups:restore-status", args=[world.restore.pk]))
