"""Destination pages: add with the folder picker, check a folder, enable/disable, edit, delete."""

import os

import pytest
from django.urls import reverse

from apps.destinations.models import Destination
from tests.ui.world import assert_access, world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_destination_pages_answer_owners_only_and_hide_from_outsiders(world):
    pk = world.destination.pk
    assert_access(
        world,
        reverse("destinations:update", args=[pk]),
        world.owner,
        forbidden=[world.operator, world.viewer],
    )
    assert_access(world, reverse("destinations:delete", args=[pk]), world.owner, forbidden=[world.viewer])
    assert_access(
        world,
        reverse("destinations:create", args=[world.database.pk]),
        world.owner,
        forbidden=[world.operator],
    )


def test_an_owner_adds_a_destination_and_a_missing_folder_is_created(world, backup_root):
    target = backup_root / "nightly" / "orders"
    response = world.client_for(world.owner).post(
        reverse("destinations:create", args=[world.database.pk]),
        {"name": "second", "path": str(target), "enabled": "on"},
        follow=True,
    )
    dest = Destination.objects.get(name="second")
    assert dest.path == os.path.realpath(target) and dest.enabled and dest.kind == "local"
    assert target.is_dir()
    assert f"backups will be written to {dest.path}" in response.content.decode()


def test_a_folder_outside_the_allowed_roots_is_refused_inline(world, tmp_path):
    for bad, message in (
        (str(tmp_path / "elsewhere"), "outside this group&#x27;s backup folders"),
        ("relative/path", "must be absolute"),
        (str(tmp_path / "backups" / ".." / "x"), "must not contain"),
    ):
        response = world.client_for(world.owner).post(
            reverse("destinations:create", args=[world.database.pk]),
            {"name": "bad", "path": bad, "enabled": "on"},
        )
        assert response.status_code == 200
        assert message in response.content.decode(), bad
    assert not Destination.objects.filter(name="bad").exists()


def test_operators_and_viewers_cannot_add_destinations(world, backup_root):
    url = reverse("destinations:create", args=[world.database.pk])
    data = {"name": "x", "path": str(backup_root), "enabled": "on"}
    assert world.client_for(world.operator).post(url, data).status_code == 403
    assert world.client_for(world.outsider).post(url, data).status_code == 404
    assert not Destination.objects.filter(name="x").exists()


def test_the_picker_lists_allowed_roots_and_their_folders(world, backup_root):
    (backup_root / "alpha").mkdir()
    client = world.client_for(world.owner)
    browse = reverse("destinations:browse", args=[world.database.pk])
    roots = client.get(browse).content.decode()
    assert str(backup_root) in roots
    inside = client.get(browse, {"path": str(backup_root)}).content.decode()
    assert "alpha" in inside and "Use this folder" in inside
    outside = client.get(browse, {"path": "/etc"}).content.decode()
    assert "outside this group&#x27;s backup folders" in outside and "passwd" not in outside


def test_the_folder_check_shows_exists_writable_and_free_space(world, backup_root):
    client = world.client_for(world.owner)
    check = reverse("destinations:check", args=[world.database.pk])
    html = client.get(check, {"path": str(backup_root)}).content.decode()
    assert "exists" in html and "writable" in html and "free" in html
    new = client.get(check, {"path": str(backup_root / "new")}).content.decode()
    assert "will be created" in new


def test_the_picker_is_for_group_owners_only(world):
    for name in ("destinations:browse", "destinations:check"):
        url = reverse(name, args=[world.database.pk])
        assert world.client_for(world.operator).get(url).status_code == 403
        assert world.client_for(world.outsider).get(url).status_code == 404
        assert world.client_for(None).get(url).status_code == 302


def test_an_owner_disables_and_enables_a_destination(world):
    url = reverse("destinations:toggle", args=[world.destination.pk])
    assert world.client_for(world.operator).post(url).status_code == 403
    response = world.client_for(world.owner).post(url, follow=True)
    world.destination.refresh_from_db()
    assert not world.destination.enabled
    assert "disabled: new backups skip it" in response.content.decode()


def test_deleting_a_destination_keeps_its_files(world):
    response = world.client_for(world.owner).post(
        reverse("destinations:delete", args=[world.destination.pk]), follow=True
    )
    assert not Destination.objects.filter(pk=world.destination.pk).exists()
    assert world.file.exists()
    assert "Files already written there stay where they are." in response.content.decode()
