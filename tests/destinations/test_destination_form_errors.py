"""A refused destination comes back as the full page: the error once, beside the field, and a Cancel."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.destinations.models import Destination
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_folder_outside_the_group_is_refused_once_on_the_full_page_with_a_cancel(world, tmp_path):
    # The quick form on the database page posts here (it has no kind selector).
    response = world.client_for(world.owner).post(
        reverse("destinations:create", args=[world.database.pk]),
        {"name": "elsewhere", "path": str(tmp_path / "elsewhere"), "enabled": "on"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("outside this group&#x27;s backup folders") == 1
    assert "Enter the folder backups are written to." not in html
    assert "<main" in html and 'id="id_kind"' in html  # the whole page, not a fragment
    cancel = f'href="{reverse("databases:detail", args=[world.database.pk])}#destinations">Cancel</a>'
    assert cancel in html
    assert 'value="elsewhere"' in html  # what was typed stays
    assert not Destination.objects.filter(name="elsewhere").exists()


def test_an_empty_folder_is_asked_for_once(world):
    response = world.client_for(world.owner).post(
        reverse("destinations:create", args=[world.database.pk]), {"name": "blank", "path": ""}
    )
    assert response.content.decode().count("Enter the folder backups are written to.") == 1
    assert not Destination.objects.filter(name="blank").exists()
