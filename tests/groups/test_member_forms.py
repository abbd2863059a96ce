"""Members: a refused addition keeps what was typed; a removal is confirmed on its own page first."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_an_unknown_username_is_refused_beside_the_field_and_stays_typed(world):
    response = world.client_for(world.owner).post(
        reverse("groups:member-add", args=[world.group.pk]), {"username": "ghost-typo", "role": "operator"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="username" value="ghost-typo"' in html
    assert '<option value="operator" selected>' in html
    assert "There is no user named “ghost-typo”." in html
    assert 'id="field-username"' in html and html.index("There is no user named") > html.index(
        'id="field-username"'
    )
    assert not Membership.objects.filter(group=world.group, user__username="ghost-typo").exists()


def test_an_existing_member_is_refused_and_the_name_stays(world):
    response = world.client_for(world.owner).post(
        reverse("groups:member-add", args=[world.group.pk]), {"username": "victor", "role": "owner"}
    )
    html = response.content.decode()
    assert "victor is already a member of this group." in html and 'value="victor"' in html
    assert Membership.objects.get(group=world.group, user=world.viewer).role == "viewer"


def test_a_blank_username_is_refused_inline(world):
    response = world.client_for(world.owner).post(
        reverse("groups:member-add", args=[world.group.pk]), {"username": "", "role": "viewer"}
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()


def test_removing_a_member_asks_first_and_only_the_post_removes(world):
    membership = Membership.objects.get(user=world.viewer)
    url = reverse("groups:member-remove", args=[world.group.pk, membership.pk])
    client = world.client_for(world.owner)
    group_page = client.get(reverse("groups:detail", args=[world.group.pk])).content.decode()
    assert f'href="{url}"' in group_page  # a link to the confirmation, not a one-click POST
    confirm = client.get(url)
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Remove victor from “team”?" in html and f'action="{url}"' in html and "Cancel" in html
    assert Membership.objects.filter(pk=membership.pk).exists()
    done = client.post(url, follow=True)
    assert "victor removed from “team”." in done.content.decode()
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_the_confirmation_page_is_for_owners_only(world):
    membership = Membership.objects.get(user=world.viewer)
    url = reverse("groups:member-remove", args=[world.group.pk, membership.pk])
    assert world.client_for(world.operator).get(url).status_code == 403
    assert world.client_for(world.outsider).get(url).status_code == 404
