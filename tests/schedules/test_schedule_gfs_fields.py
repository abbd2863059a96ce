"""The GFS retention counts (keep_hourly … keep_yearly): one rule in Schedule.clean(), every door."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.schedules.models import Schedule
from tests.ui.world import world_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

GFS = ["keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"]


@pytest.fixture
def database(make_database):
    return make_database()


def test_the_api_saves_and_returns_the_gfs_counts(api_client, database):
    body = {"database_id": database.id, "name": "gfs", "interval_value": "daily", "timezone": "Europe/Rome"}
    body.update(keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=2)
    response = api_client.post("/api/schedules/", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert {name: created[name] for name in GFS} == {
        "keep_hourly": None,
        "keep_daily": 7,
        "keep_weekly": 4,
        "keep_monthly": 12,
        "keep_yearly": 2,
    }
    url = f"/api/schedules/{created['id']}/"
    response = api_client.patch(url, {"keep_weekly": None, "keep_hourly": 24}, format="json")
    assert response.status_code == 200, response.content
    schedule = Schedule.objects.get(pk=created["id"])
    assert (schedule.keep_hourly, schedule.keep_weekly, schedule.keep_daily) == (24, None, 7)
    assert api_client.get(url).json()["keep_hourly"] == 24


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("keep_daily", 0, "Keep between 1 and 36500 days, or leave it empty."),
        ("keep_yearly", 101, "Keep between 1 and 100 years, or leave it empty."),
        ("keep_weekly", -3, "Keep between 1 and 5200 weeks, or leave it empty."),
        ("keep_hourly", 10**12, "Keep between 1 and 100000 hours, or leave it empty."),
    ],
)
def test_the_api_refuses_counts_out_of_range_with_the_models_message(
    api_client, database, field, value, message
):
    body = {"database_id": database.id, "name": "gfs", "interval_value": "daily", field: value}
    response = api_client.post("/api/schedules/", body, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()[field]
    assert not Schedule.objects.exists()


def test_the_api_refuses_a_count_that_is_not_a_number(api_client, database):
    body = {"database_id": database.id, "name": "gfs", "interval_value": "daily", "keep_monthly": "lots"}
    response = api_client.post("/api/schedules/", body, format="json")
    assert response.status_code == 400 and "keep_monthly" in response.json()


def test_the_model_rule_is_the_one_clean(database):
    schedule = Schedule(database=database, name="x", interval_value="daily", keep_monthly=0, keep_daily=5)
    with pytest.raises(ValidationError) as caught:
        schedule.full_clean()
    assert caught.value.message_dict["keep_monthly"] == ["Keep between 1 and 1200 months, or leave it empty."]
    assert "keep_daily" not in caught.value.message_dict


def test_a_gfs_count_alone_is_retention():
    assert not Schedule().has_retention()
    assert Schedule(keep_yearly=1).has_retention()
    assert Schedule(keep_hourly=3).has_retention()


def test_the_schedule_form_saves_gfs_counts_and_explains_a_bad_one(world):
    client = world.client_for(world.owner)
    url = reverse("schedules:create") + f"?database={world.database.pk}"
    fields = {"name": "gfs", "interval_value": "daily", "timezone": "Europe/Rome", "enabled": "on"}
    page = client.get(url).content.decode()
    assert all(f'name="{name}"' in page for name in GFS)
    response = client.post(url, {**fields, "keep_yearly": "101"})
    assert response.status_code == 200
    assert "Keep between 1 and 100 years, or leave it empty." in response.content.decode()
    assert not Schedule.objects.filter(name="gfs").exists()
    client.post(url, {**fields, "keep_daily": "7", "keep_monthly": "12"})
    schedule = Schedule.objects.get(name="gfs")
    assert (schedule.keep_daily, schedule.keep_monthly, schedule.keep_weekly) == (7, 12, None)


def test_the_admin_goes_through_the_same_rule(admin_client, database):
    url = reverse("admin:schedules_schedule_add")
    response = admin_client.post(
        url,
        {
            "database": database.pk,
            "name": "gfs",
            "interval_value": "daily",
            "cron_expression": "",
            "timezone": "UTC",
            "enabled": "on",
            "keep_weekly": "0",
        },
    )
    assert response.status_code == 200
    assert "Keep between 1 and 5200 weeks, or leave it empty." in response.content.decode()
    assert not Schedule.objects.filter(name="gfs").exists()
