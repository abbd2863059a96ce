"""An empty dashboard is a first-run path (group → database → destination → schedule → first backup), not zeros."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Membership
from apps.backups.models import Backup

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("backups:dashboard")


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def states(html: str) -> list[str]:
    return re.findall(r'data-step="\d" data-state="(\w+)"', html)


def test_a_user_without_a_group_sees_the_first_step_next_and_no_zeros_or_charts(user):
    html = client_of(user).get(DASHBOARD).content.decode()
    assert states(html) == ["next", "later", "later", "later", "later"]
    assert f'<a class="button" href="{reverse("groups:create")}">Create a group</a>' in html
    assert reverse("databases:create") not in html  # no "Add database" before a group exists
    assert "<svg" not in html and "data-stat=" not in html and "Needs attention" not in html
    assert "data-refresh-url" not in html


def test_with_a_group_the_next_step_adds_a_database_to_it(user, group):
    html = client_of(user).get(DASHBOARD).content.decode()
    assert states(html) == ["done", "next", "later", "later", "later"]
    assert f'href="{reverse("groups:detail", args=[group.pk])}"' in html
    assert f'href="{reverse("databases:create")}?group={group.pk}">Add a database</a>' in html
    assert "tests the connection" in html


def test_each_step_done_moves_next_along_to_the_first_backup(
    user, make_database, make_destination, make_schedule
):
    database = make_database(name="shop")
    client = client_of(user)
    html = client.get(DASHBOARD).content.decode()
    assert states(html) == ["done", "done", "next", "later", "later"]
    assert f'href="{reverse("destinations:create", args=[database.pk])}">Add a destination</a>' in html
    make_destination(database)
    html = client.get(DASHBOARD).content.decode()
    assert states(html) == ["done", "done", "done", "next", "later"]
    assert f'href="{reverse("schedules:create")}?database={database.pk}">Add a schedule</a>' in html
    make_schedule(database)
    html = client.get(DASHBOARD).content.decode()
    assert states(html) == ["done", "done", "done", "done", "next"]
    run = reverse("backups:run", args=[database.pk])
    assert f'<form method="post" action="{run}">' in html and "Run the first backup now" in html
    response = client.post(run, follow=True)
    assert response.status_code == 200 and Backup.objects.filter(database=database).count() == 1
    html = client.get(DASHBOARD).content.decode()
    assert "data-onboarding" not in html and 'id="dashboard-live"' in html  # the numbers from now on


def test_a_viewer_is_told_who_can_do_the_next_step(user, make_group, other_user):
    group = make_group(owner=user, name="team")
    Membership.objects.create(user=other_user, group=group, role=Membership.Role.VIEWER)
    html = client_of(other_user).get(DASHBOARD).content.decode()
    assert states(html) == ["done", "next", "later", "later", "later"]
    assert "This needs the owner role in the group" in html
    assert reverse("databases:create") not in html


def test_the_databases_list_offers_add_database_only_once_a_group_exists(db):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123456!")
    client = client_of(admin)
    html = client.get(reverse("databases:list")).content.decode()
    assert reverse("databases:create") not in html
    assert f'href="{reverse("groups:create")}">Create a group</a> first' in html
    response = client.get(reverse("databases:create"))
    assert response.status_code == 302 and response["Location"] == reverse("groups:create")
    client.post(reverse("groups:create"), {"name": "ops"})
    assert reverse("databases:create") in client.get(reverse("databases:list")).content.decode()
