"""Membership rules live in apps.groups.services: pages, API and admin give the same answers."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection
from django.urls import reverse

from apps.accounts.models import Membership
from apps.groups import services
from apps.groups.models import Group


@pytest.mark.django_db
def test_the_api_finds_a_user_by_name_whatever_the_case_like_the_page(api_client, group):
    nina = get_user_model().objects.create_user("nina", "", "pw-nina-123!")
    response = api_client.post(
        f"/api/groups/{group.id}/members/", {"username": "NINA", "role": "viewer"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Membership.objects.get(group=group, user=nina).role == "viewer"


@pytest.mark.django_db
def test_the_page_and_the_api_refuse_the_last_owner_with_the_same_message(api_client, client, user, group):
    membership = Membership.objects.get(group=group, user=user)
    api = api_client.delete(f"/api/groups/{group.id}/members/{user.id}/")
    assert api.status_code == 400
    message = api.json()["role"][0]
    assert message == (
        "A group needs at least one owner, and alice is its only owner: make someone else owner first."
    )
    client.force_login(user)
    page = client.post(reverse("groups:member-remove", args=[group.pk, membership.pk]), follow=True)
    assert message in page.content.decode()
    page = client.post(
        reverse("groups:member-role", args=[group.pk, membership.pk]), {"role": "viewer"}, follow=True
    )
    assert message in page.content.decode()
    assert Membership.objects.get(pk=membership.pk).role == "owner"


@pytest.mark.django_db
def test_the_admin_cannot_demote_or_delete_the_last_owner(admin_client, user, group):
    membership = Membership.objects.get(group=group, user=user)
    url = reverse("admin:accounts_membership_change", args=[membership.pk])
    response = admin_client.post(url, {"role": "viewer"})
    assert response.status_code == 200
    assert "A group needs at least one owner" in response.content.decode()
    assert Membership.objects.get(pk=membership.pk).role == "owner"
    delete = reverse("admin:accounts_membership_delete", args=[membership.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Membership.objects.filter(pk=membership.pk).exists()


@pytest.mark.django_db
def test_the_admin_adds_members_and_creates_groups_through_the_services(admin_client, admin_user, group):
    nina = get_user_model().objects.create_user("nina", "", "pw-nina-123!")
    response = admin_client.post(
        reverse("admin:accounts_membership_add"), {"user": nina.pk, "group": group.pk, "role": "operator"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Membership.objects.get(group=group, user=nina).role == "operator"
    response = admin_client.post(
        reverse("admin:groups_group_add"), {"name": "ops", "description": "", **_empty_inline()}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    ops = Group.objects.get(name="ops")
    assert Membership.objects.get(group=ops).user == admin_user
    assert Membership.objects.get(group=ops).role == "owner"


def _empty_inline() -> dict:
    prefix = "memberships"
    return {
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(monkeypatch, make_group):
    """The check "another owner remains" and the write must not interleave between two requests.

    Each thread pauses right after its check until the other one has checked too (or 2 s
    passed). Without the group lock both checks pass and both owners are gone; with it the
    second request waits for the first to commit, then sees it and is refused.
    """
    if connection.vendor == "sqlite":
        pytest.skip("needs a metadata server with row locks and two connections (the PostgreSQL pass)")
    User = get_user_model()
    ann = User.objects.create_user("ann", "", "pw-ann-123!")
    bob = User.objects.create_user("bob", "", "pw-bob-123!")
    group = make_group(owner=ann)
    Membership.objects.create(group=group, user=bob, role="owner")

    both_checked = threading.Barrier(2)
    original = services.ensure_other_owner

    def check_then_wait(membership):
        original(membership)
        try:
            both_checked.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass

    monkeypatch.setattr(services, "ensure_other_owner", check_then_wait)
    outcomes: dict[str, str] = {}

    def demote(name: str) -> None:
        try:
            membership = Membership.objects.select_related("group").get(group=group, user__username=name)
            services.change_role(membership, "viewer")
            outcomes[name] = "demoted"
        except ValidationError:
            outcomes[name] = "refused"
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=demote, args=(name,)) for name in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["demoted", "refused"]
    assert Membership.objects.filter(group=group, role="owner").count() == 1
