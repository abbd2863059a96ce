"""A database name is unique in its group whatever its case: one rule (the model) for form, API and admin."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from apps.databases.models import Database

pytestmark = pytest.mark.django_db

CLASH = "This group already has a database named “Shop”."


def pg_body(owner_group, **overrides):
    body = {
        "group_id": owner_group.id,
        "name": "shop",
        "engine": "postgresql",
        "host": "127.0.0.1",
        "port": 5432,
        "database_name": "shop",
    }
    return {**body, **overrides}


def test_the_api_refuses_a_name_that_differs_only_in_case(api_client, group, make_database):
    make_database(name="Shop")
    response = api_client.post("/api/databases/", pg_body(group), format="json")
    assert response.status_code == 400
    assert response.json() == {"name": [CLASH]}
    assert list(Database.objects.values_list("name", flat=True)) == ["Shop"]


def test_the_api_refuses_a_rename_onto_another_name_in_another_case(api_client, group, make_database):
    make_database(name="Shop")
    other = make_database(name="orders")
    response = api_client.patch(f"/api/databases/{other.pk}", {"name": "SHOP"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": [CLASH]}
    assert Database.objects.get(pk=other.pk).name == "orders"
    # Renaming a database to another case of its own name is fine.
    response = api_client.patch(f"/api/databases/{other.pk}", {"name": "Orders"}, format="json")
    assert response.status_code == 200, response.content


def test_the_page_gives_the_same_message(client, user, group, make_database):
    make_database(name="Shop")
    client.force_login(user)
    body = pg_body(group, group=group.pk, compression="zstd")
    del body["group_id"]
    response = client.post(reverse("databases:create"), body)
    assert response.status_code == 200
    assert CLASH in response.content.decode()
    assert Database.objects.count() == 1


def test_the_admin_gives_the_same_message(admin_client, group, make_database):
    make_database(name="Shop")
    body = pg_body(group, group=group.pk, compression="zstd", options="{}", password="", username="")
    del body["group_id"]
    response = admin_client.post(reverse("admin:databases_database_add"), body)
    assert response.status_code == 200
    assert CLASH in response.content.decode()
    assert Database.objects.count() == 1


def test_the_database_refuses_it_too(make_database):
    make_database(name="Shop")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_database(name="sHoP")


def test_another_group_may_use_the_name(make_group, make_database):
    make_database(name="Shop")
    make_database(name="shop", group=make_group())
    assert Database.objects.filter(name__iexact="shop").count() == 2
