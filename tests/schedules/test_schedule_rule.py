"""Schedule.clean() is the one check of a schedule's rule: page, API and admin refuse the same rules."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.schedules.models import Schedule

pytestmark = pytest.mark.django_db

SIX_FIELDS = "A cron expression has exactly 5 fields (minute hour day month weekday), got 6."
MARS = "'Mars/Base' is not a known IANA timezone (e.g. UTC, Europe/Rome)."


def admin_body(database, **overrides):
    body = {
        "database": database.pk,
        "name": "nightly",
        "interval_value": "custom",
        "cron_expression": "30 2 * * *",
        "timezone": "UTC",
        "enabled": "on",
        "keep_last": "",
        "keep_days": "",
    }
    return {**body, **overrides}


def test_the_admin_refuses_a_cron_that_is_not_one_and_an_unknown_zone(admin_client, make_database):
    database = make_database()
    response = admin_client.post(
        reverse("admin:schedules_schedule_add"),
        admin_body(database, cron_expression="not a cron", timezone="Mars/Base"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "A cron expression has exactly 5 fields" in html
    assert "is not a known IANA timezone" in html
    assert not Schedule.objects.exists()


def test_the_admin_saves_a_good_rule_with_its_next_run(admin_client, make_database):
    database = make_database()
    response = admin_client.post(reverse("admin:schedules_schedule_add"), admin_body(database))
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = Schedule.objects.get()
    assert schedule.cron_expression == "30 2 * * *"
    assert schedule.next_run_at is not None and schedule.next_run_at.strftime("%H:%M") == "02:30"


def test_the_admin_derives_a_presets_cron(admin_client, make_database):
    database = make_database()
    body = admin_body(database, interval_value="hourly", cron_expression="")
    assert admin_client.post(reverse("admin:schedules_schedule_add"), body).status_code == 302
    assert Schedule.objects.get().cron_expression == "0 * * * *"


def test_the_api_and_the_page_give_the_models_message(api_client, client, user, make_database):
    database = make_database()
    body = {
        "database_id": database.pk,
        "name": "x",
        "interval_value": "custom",
        "cron_expression": "* * * * * *",
    }
    response = api_client.post("/api/schedules/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"cron_expression": [SIX_FIELDS]}
    response = api_client.post(
        "/api/schedules/", {"database_id": database.pk, "name": "x", "timezone": "Mars/Base"}, format="json"
    )
    assert response.json() == {"timezone": [MARS]}
    client.force_login(user)
    page = client.post(
        reverse("schedules:create") + f"?database={database.pk}",
        {"name": "x", "interval_value": "custom", "cron_expression": "* * * * * *", "timezone": "UTC"},
    )
    assert page.status_code == 200 and SIX_FIELDS in page.content.decode()
    assert not Schedule.objects.exists()


def test_the_model_refuses_what_would_never_run(make_database):
    schedule = Schedule(
        database=make_database(), name="x", interval_value="custom", cron_expression="0 0 31 2 *"
    )
    with pytest.raises(ValidationError) as caught:
        schedule.full_clean()
    assert "never runs" in str(caught.value)
