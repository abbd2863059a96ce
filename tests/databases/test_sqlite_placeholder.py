"""The SQLite path the form suggests is one the form accepts: a file in the group's own folder."""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from apps.databases.models import Database
from tests.ui.world import make_sqlite, world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def examples_on(page: str) -> dict[str, str]:
    match = re.search(r'data-sqlite-examples="([^"]*)"', page)
    assert match, "the path field carries no examples"
    return json.loads(htmllib.unescape(match.group(1)))


def test_the_suggested_sqlite_path_lies_in_each_offered_group_and_is_accepted(
    world, make_group, tmp_path, settings
):
    settings.BM_SQLITE_ROOTS = [str(tmp_path / "sqlite-root")]
    second = make_group(owner=world.owner, name="second", own_folders_only=True)
    client = world.client_for(world.owner)
    examples = examples_on(client.get(reverse("databases:create")).content.decode())
    assert set(examples) == {str(world.group.pk), str(second.pk)}
    example = examples[str(second.pk)]
    assert example.startswith(str(tmp_path / "sqlite-root" / f"group-{second.pk}") + "/")
    assert "/var/lib/app" not in example

    Path(example).parent.mkdir(parents=True)
    make_sqlite(Path(example))
    response = client.post(
        reverse("databases:create"),
        {
            "group": second.pk,
            "name": "suggested",
            "engine": "sqlite",
            "database_name": example,
            "compression": "zstd",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Database.objects.get(name="suggested").database_name == example


def test_groups_the_user_does_not_own_get_no_example(world, make_group):
    make_group(owner=world.viewer, name="not-alices")
    examples = examples_on(world.client_for(world.owner).get(reverse("databases:create")).content.decode())
    assert set(examples) == {str(world.group.pk)}
