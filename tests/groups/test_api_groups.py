import pytest
from django.contrib.auth import get_user_model

from apps.accounts.models import Membership
from apps.groups.models import Group

pytestmark = pytest.mark.django_db


def test_creating_a_group_makes_the_creator_its_owner(api_client, user):
    response = api_client.post("/api/groups/", {"name": "ops", "description": "prod"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "ops" and body["role"] == "owner"
    assert Membership.objects.get(group_id=body["id"], user=user).role == "owner"


def test_a_duplicate_group_name_is_a_400_naming_the_field(api_client, group):
    response = api_client.post("/api/groups/", {"name": group.name}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert Group.objects.count() == 1


def test_lists_show_only_the_callers_groups_paginated(
    api_client, other_client, group, make_group, other_user
):
    make_group(owner=other_user, name="theirs")
    body = api_client.get("/api/groups/").json()
    assert body["count"] == 1 and [g["name"] for g in body["results"]] == ["team"]
    assert set(body) == {"count", "next", "previous", "results"}


def test_another_users_group_is_404(other_client, group):
    assert other_client.get(f"/api/groups/{group.id}").status_code == 404
    assert other_client.delete(f"/api/groups/{group.id}").status_code == 404
    assert Group.objects.filter(pk=group.pk).exists()


def test_viewers_read_but_cannot_edit_or_delete(other_client, other_user, group):
    Membership.objects.create(user=other_user, group=group, role="viewer")
    assert other_client.get(f"/api/groups/{group.id}").json()["role"] == "viewer"
    assert other_client.patch(f"/api/groups/{group.id}", {"name": "x"}, format="json").status_code == 403
    assert other_client.delete(f"/api/groups/{group.id}").status_code == 403
    assert Group.objects.get(pk=group.pk).name == "team"


def test_owners_add_change_and_remove_members(api_client, other_user, group):
    added = api_client.post(
        f"/api/groups/{group.id}/members/", {"username": "mallory", "role": "operator"}, format="json"
    )
    assert added.status_code == 201, added.content
    assert added.json()["role"] == "operator"
    members = api_client.get(f"/api/groups/{group.id}/members/").json()
    assert {m["username"]: m["role"] for m in members} == {"alice": "owner", "mallory": "operator"}
    assert api_client.delete(f"/api/groups/{group.id}/members/{other_user.id}/").status_code == 204
    assert not Membership.objects.filter(group=group, user=other_user).exists()


def test_adding_an_unknown_user_or_role_is_a_400_naming_the_field(api_client, group):
    response = api_client.post(
        f"/api/groups/{group.id}/members/", {"username": "nobody", "role": "viewer"}, format="json"
    )
    assert response.status_code == 400 and "username" in response.json()
    get_user_model().objects.create_user("bob", "", "x")
    response = api_client.post(
        f"/api/groups/{group.id}/members/", {"username": "bob", "role": "admin"}, format="json"
    )
    assert response.status_code == 400 and "role" in response.json()
    assert Membership.objects.filter(group=group).count() == 1


def test_the_last_owner_cannot_be_removed(api_client, user, group):
    response = api_client.delete(f"/api/groups/{group.id}/members/{user.id}/")
    assert response.status_code == 400
    assert "at least one owner" in str(response.json())
    assert Membership.objects.filter(group=group, user=user, role="owner").exists()


def test_operators_cannot_manage_members(other_client, other_user, group):
    Membership.objects.create(user=other_user, group=group, role="operator")
    response = other_client.post(
        f"/api/groups/{group.id}/members/", {"username": "mallory", "role": "owner"}, format="json"
    )
    assert response.status_code == 403
    assert Membership.objects.get(group=group, user=other_user).role == "operator"


def test_the_group_list_costs_the_same_queries_for_many_groups(
    api_client, user, make_group, django_assert_max_num_queries
):
    for _ in range(20):
        make_group(owner=user)
    with django_assert_max_num_queries(4):
        body = api_client.get("/api/groups/").json()
    assert body["count"] == 20 and {g["role"] for g in body["results"]} == {"owner"}
