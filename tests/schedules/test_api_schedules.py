from datetime import datetime, timezone

import pytest
import time_machine

from apps.accounts.models import Membership
from apps.schedules.models import Schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def database(make_database):
    return make_database()


def test_presets_derive_the_cron_and_compute_next_run_in_the_zone(api_client, database):
    with time_machine.travel(datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc), tick=False):
        response = api_client.post(
            "/api/schedules/",
            {
                "database_id": database.id,
                "name": "nightly",
                "interval_value": "daily",
                "timezone": "Europe/Rome",
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["cron_expression"] == "0 0 * * *"
    # Midnight in Rome (CEST, +2) is 22:00 UTC.
    assert body["next_run_at"] == "2026-07-01T22:00:00Z"


def test_custom_cron_is_validated_and_normalised(api_client, database):
    body = {
        "database_id": database.id,
        "name": "x",
        "interval_value": "custom",
        "cron_expression": " */15  * * * * ",
    }
    response = api_client.post("/api/schedules/", body, format="json")
    assert response.status_code == 201
    assert response.json()["cron_expression"] == "*/15 * * * *"


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        (
            {"interval_value": "custom", "cron_expression": "* * * * * *"},
            "cron_expression",
            "exactly 5 fields",
        ),
        (
            {"interval_value": "custom", "cron_expression": "61 * * * *"},
            "cron_expression",
            "not a valid cron",
        ),
        ({"interval_value": "custom"}, "cron_expression", "needs a cron expression"),
        ({"timezone": "Mars/Base"}, "timezone", "not a known IANA timezone"),
        ({"interval_value": "fortnightly"}, "interval_value", "not a valid choice"),
        ({"keep_last": 0}, "keep_last", "greater than or equal to 1"),
        ({"keep_days": "many"}, "keep_days", "valid integer"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, database, overrides, field, message):
    body = {"database_id": database.id, "name": "x", "interval_value": "daily", **overrides}
    response = api_client.post("/api/schedules/", body, format="json")
    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert Schedule.objects.count() == 0


def test_changing_the_rule_recomputes_next_run_and_disabling_clears_it(api_client, database, make_schedule):
    schedule = make_schedule(database)
    response = api_client.patch(f"/api/schedules/{schedule.id}", {"interval_value": "hourly"}, format="json")
    assert response.json()["cron_expression"] == "0 * * * *"
    assert response.json()["next_run_at"].endswith(":00:00Z")
    assert (
        api_client.patch(f"/api/schedules/{schedule.id}", {"enabled": False}, format="json").json()[
            "next_run_at"
        ]
        is None
    )


def test_preview_lists_the_next_runs_and_rejects_bad_rules(api_client):
    with time_machine.travel(datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc), tick=False):
        response = api_client.post(
            "/api/schedules/preview",
            {
                "interval_value": "custom",
                "cron_expression": "30 2 * * *",
                "timezone": "Europe/Rome",
                "count": 3,
            },
            format="json",
        )
    assert response.status_code == 200
    assert response.json()["next_runs"] == [
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:30:00Z",
        "2026-03-31T00:30:00Z",
    ]
    bad = api_client.post(
        "/api/schedules/preview", {"interval_value": "custom", "cron_expression": "61 * * * *"}, format="json"
    )
    assert bad.status_code == 400 and "cron_expression" in bad.json()
    zone = api_client.post(
        "/api/schedules/preview", {"interval_value": "daily", "timezone": "Nowhere"}, format="json"
    )
    assert zone.status_code == 400 and "timezone" in zone.json()


def test_list_filters_by_database_and_hides_other_groups(
    api_client, other_client, database, make_database, make_schedule
):
    make_schedule(database)
    make_schedule(make_database())
    assert api_client.get("/api/schedules/").json()["count"] == 2
    assert api_client.get(f"/api/schedules/?database_id={database.id}").json()["count"] == 1
    assert other_client.get("/api/schedules/").json()["count"] == 0


def test_outsiders_get_404_and_viewers_403(other_client, other_user, database, group, make_schedule):
    schedule = make_schedule(database)
    assert other_client.get(f"/api/schedules/{schedule.id}").status_code == 404
    Membership.objects.create(user=other_user, group=group, role="viewer")
    assert other_client.get(f"/api/schedules/{schedule.id}").status_code == 200
    assert other_client.delete(f"/api/schedules/{schedule.id}").status_code == 403
    response = other_client.post(
        "/api/schedules/", {"database_id": database.id, "name": "y", "interval_value": "daily"}, format="json"
    )
    assert response.status_code == 400 and "database_id" in response.json()
