"""Group pages: list, detail with members, create/edit/delete, member management."""

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.groups.models import Group
from tests.ui.world import assert_access, world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_group_pages_answer_members_and_hide_from_outsiders(world):
    assert_access(world, reverse("groups:detail", args=[world.group.pk]))
    assert_access(
        world,
        reverse("groups:update", args=[world.group.pk]),
        world.owner,
        forbidden=[world.operator, world.viewer],
    )
    assert_access(
        world, reverse("groups:delete", args=[world.group.pk]), world.owner, forbidden=[world.viewer]
    )


def test_the_group_list_shows_only_the_callers_groups_with_their_role(world):
    html = world.client_for(world.viewer).get(reverse("groups:list")).content.decode()
    assert "team" in html and "viewer" in html
    outsider_html = world.client_for(world.outsider).get(reverse("groups:list")).content.decode()
    assert "team" not in outsider_html
    assert world.client_for(None).get(reverse("groups:list")).status_code == 302


def test_creating_a_group_makes_the_creator_its_owner(world):
    client = world.client_for(world.outsider)
    response = client.post(reverse("groups:create"), {"name": "ops", "description": "Ops team"}, follow=True)
    group = Group.objects.get(name="ops")
    assert Membership.objects.get(group=group, user=world.outsider).role == "owner"
    assert "Group “ops” created. You are its owner." in response.content.decode()


def test_a_duplicate_group_name_is_reported_on_the_field(world):
    response = world.client_for(world.outsider).post(reverse("groups:create"), {"name": "team"})
    assert response.status_code == 200
    assert "A group with this name already exists" in response.content.decode()


def test_members_and_roles_are_listed_and_only_owners_get_the_member_form(world):
    url = reverse("groups:detail", args=[world.group.pk])
    owner_html = world.client_for(world.owner).get(url).content.decode()
    assert "olga" in owner_html and "victor" in owner_html and "Add member" in owner_html
    viewer_html = world.client_for(world.viewer).get(url).content.decode()
    assert "olga" in viewer_html and "Add member" not in viewer_html and "Remove" not in viewer_html


def test_an_owner_adds_a_member_with_a_role(world, django_user_model):
    newbie = django_user_model.objects.create_user("nina", "", "pw-nina-123!")
    response = world.client_for(world.owner).post(
        reverse("groups:member-add", args=[world.group.pk]),
        {"username": "nina", "role": "operator"},
        follow=True,
    )
    assert Membership.objects.get(user=newbie, group=world.group).role == "operator"
    assert "nina added to “team” as operator." in response.content.decode()


def test_adding_an_unknown_user_says_so(world):
    response = world.client_for(world.owner).post(
        reverse("groups:member-add", args=[world.group.pk]),
        {"username": "ghost", "role": "viewer"},
        follow=True,
    )
    assert "There is no user named “ghost”." in response.content.decode()


def test_non_owners_cannot_manage_members(world):
    url = reverse("groups:member-add", args=[world.group.pk])
    assert (
        world.client_for(world.operator).post(url, {"username": "mallory", "role": "owner"}).status_code
        == 403
    )
    assert (
        world.client_for(world.outsider).post(url, {"username": "mallory", "role": "owner"}).status_code
        == 404
    )
    assert not Membership.objects.filter(user=world.outsider).exists()
    viewer_membership = Membership.objects.get(user=world.viewer)
    remove = reverse("groups:member-remove", args=[world.group.pk, viewer_membership.pk])
    assert world.client_for(world.operator).post(remove).status_code == 403
    assert Membership.objects.filter(pk=viewer_membership.pk).exists()


def test_an_owner_changes_a_role_and_removes_a_member(world):
    membership = Membership.objects.get(user=world.viewer)
    client = world.client_for(world.owner)
    client.post(reverse("groups:member-role", args=[world.group.pk, membership.pk]), {"role": "operator"})
    membership.refresh_from_db()
    assert membership.role == "operator"
    response = client.post(reverse("groups:member-remove", args=[world.group.pk, membership.pk]), follow=True)
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert "victor removed from “team”." in response.content.decode()


def test_the_last_owner_can_be_neither_removed_nor_demoted(world):
    membership = Membership.objects.get(user=world.owner)
    client = world.client_for(world.owner)
    response = client.post(reverse("groups:member-remove", args=[world.group.pk, membership.pk]), follow=True)
    assert "A group needs at least one owner, and alice is its only owner" in response.content.decode()
    client.post(reverse("groups:member-role", args=[world.group.pk, membership.pk]), {"role": "viewer"})
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_deleting_a_group_needs_a_post_by_an_owner(world):
    url = reverse("groups:delete", args=[world.group.pk])
    assert world.client_for(world.operator).post(url).status_code == 403
    response = world.client_for(world.owner).post(url, follow=True)
    assert not Group.objects.filter(pk=world.group.pk).exists()
    assert "Group “team”" in response.content.decode()
