"""List filters are django-filter FilterSets: the same parameter names, bad values a 400 that says why."""

import pytest

from apps.backups.models import Backup

pytestmark = pytest.mark.django_db


def test_each_list_filters_by_its_parameters(
    api_client, group, make_group, user, make_database, make_schedule
):
    mine = make_database(name="shop")
    other_group = make_group(owner=user)
    theirs = make_database(name="blog", group=other_group)
    make_schedule(mine)
    make_schedule(theirs)
    Backup.objects.create(database=mine, status=Backup.Status.FAILED)
    Backup.objects.create(database=mine, status=Backup.Status.COMPLETED)
    Backup.objects.create(database=theirs, status=Backup.Status.FAILED)

    def ids(path, key):
        return sorted(row[key] for row in api_client.get(path).json()["results"])

    assert ids(f"/api/databases/?group_id={group.pk}", "id") == [mine.pk]
    assert ids(f"/api/schedules/?database_id={theirs.pk}", "database_id") == [theirs.pk]
    assert len(ids(f"/api/backups/?database_id={mine.pk}", "id")) == 2
    assert ids(f"/api/backups/?database_id={mine.pk}&status=failed", "database_id") == [mine.pk]
    assert len(ids("/api/backups/?status=failed", "id")) == 2


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/api/databases/?group_id=abc", {"group_id": ["must be a positive integer id, not 'abc'"]}),
        ("/api/schedules/?database_id=-3", {"database_id": ["must be a positive integer id, not '-3'"]}),
        ("/api/backups/?database_id=1.5", {"database_id": ["must be a positive integer id, not '1.5'"]}),
        (
            "/api/backups/?status=lost",
            {"status": ["must be one of pending, in_progress, completed, partial, failed, not 'lost'"]},
        ),
    ],
)
def test_a_bad_filter_value_is_a_400_that_says_why(api_client, group, path, expected):
    response = api_client.get(path)
    assert response.status_code == 400
    assert response.json() == expected
