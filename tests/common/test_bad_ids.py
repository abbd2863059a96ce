"""Ids and offsets from query strings and forms: anything that is not a valid id is a 4xx, never a 500."""

import pytest

from apps.common.filters import parse_id

pytestmark = pytest.mark.django_db

HUGE = "9" * 30


@pytest.mark.parametrize("raw", ["", "abc", "²", "-1", "0", HUGE, "1.5", " 1"])
def test_parse_id_refuses_what_is_not_a_row_id(raw):
    assert parse_id(raw) is None


def test_parse_id_accepts_ids():
    assert parse_id("42") == 42


@pytest.mark.parametrize(
    "path, field",
    [
        (f"/api/backups/?database_id={HUGE}", "database_id"),
        ("/api/backups/?database_id=%C2%B2", "database_id"),
        (f"/api/databases/?group_id={HUGE}", "group_id"),
        (f"/api/schedules/?database_id={HUGE}", "database_id"),
        (f"/api/groups/?offset={HUGE}", "offset"),
        (f"/api/groups/?page={HUGE}", "page"),
        ("/api/groups/?page=%C2%B2", "page"),
    ],
)
def test_api_lists_answer_400_naming_the_parameter(api_client, group, path, field):
    response = api_client.get(path)
    assert response.status_code == 400
    assert field in response.json()


def test_pages_answer_4xx_for_odd_ids(client, user, make_database):
    client.force_login(user)
    make_database()
    assert client.get("/schedules/new/?database=%C2%B2").status_code == 302
    assert client.get(f"/databases/new/?group={HUGE}").status_code == 200


def test_backup_pages_answer_4xx_for_odd_ids(client, user, make_database):
    from apps.backups.models import Backup

    client.force_login(user)
    backup = Backup.objects.create(database=make_database(), status=Backup.Status.COMPLETED)
    assert client.get(f"/backups/{backup.pk}/download/?destination=%C2%B2").status_code == 404
    assert client.get(f"/backups/{backup.pk}/download/?destination={HUGE}").status_code == 404
    response = client.post(f"/backups/{backup.pk}/restore/", {"target": "²", "confirm": "x"})
    assert response.status_code in (200, 302, 400)
