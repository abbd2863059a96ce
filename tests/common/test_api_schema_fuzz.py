"""Schemathesis against the API's own OpenAPI schema: no 5xx, and every answer matches the schema.

Every operation of `/api/schema/` is called a few times with generated input, as the owner of a
group that holds real objects (path ids point at them, so the calls reach the views' logic, not
only their 404). Generation is derandomized (same examples every run) and bounded; operations that
delete run last, the database's and the group's at the very end.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from backupmanager.wsgi import application

EXAMPLES_PER_OPERATION = 4
# A 5xx is also reported by hand (in _fuzz), with its operation and body. status_code_conformance:
# every answer's status is documented (the error answers by apps/common/openapi.py).
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

# Operations left out, each with its reason (keep this empty when possible).
EXCLUDED: dict[tuple[str, str], str] = {}


# Deletions run from the leaves to the root, so that each still finds its object.
_DELETE_LAST = ("/api/databases/{id}/", "/api/groups/{id}/members/{user_id}/", "/api/groups/{id}/")


def _order(operation) -> tuple[int, int, str]:
    """Reading first, writing next, deletions last; the database and the group at the very end."""
    method = operation.method.upper()
    path = operation.path
    rank = 0 if method == "GET" else (2 if method == "DELETE" else 1)
    last = _DELETE_LAST.index(path) + 1 if method == "DELETE" and path in _DELETE_LAST else 0
    return (rank, last, path)


@pytest.fixture
def real_objects(group, make_database, make_destination, make_schedule, user):
    from django.utils import timezone

    from apps.backups.models import Backup, BackupCopy
    from apps.notifications.models import NotificationChannel

    user.email = ""  # accounts may have no e-mail address
    user.save(update_fields=["email"])
    database = make_database()
    destination = make_destination(database)
    now = timezone.now()
    backup = Backup.objects.create(
        database=database,
        trigger=Backup.Trigger.MANUAL,
        status=Backup.Status.COMPLETED,
        created_at=now,
        started_at=now,
        finished_at=now,
        file_name="app.sqlite3.gz",
        size_bytes=3,
    )
    BackupCopy.objects.create(
        backup=backup, destination=destination, destination_name=destination.name, status="completed"
    )
    schedule = make_schedule(database)
    channel = NotificationChannel.objects.create(
        group=group, kind="email", target="ops@example.com", events=["failed"]
    )
    return {
        "group": group.pk,
        "database": database.pk,
        "destination": destination.pk,
        "schedule": schedule.pk,
        "backup": backup.pk,
        "channel": channel.pk,
        "user": user.pk,
    }


def _real_ids(path: str, ids: dict[str, int]) -> dict[str, int]:
    """Path parameters that name the fixture's objects, by the resource the path is under."""
    first = path.split("/")[2]
    own = {
        "groups": "group",
        "databases": "database",
        "schedules": "schedule",
        "backups": "backup",
    }.get(first)
    values = {"group_id": ids["group"], "database_id": ids["database"], "user_id": ids["user"]}
    if own is not None:
        values["id"] = ids[own]
    if "/destinations/{id}" in path:
        values["id"] = ids["destination"]
    if "/channels/{id}" in path:
        values["id"] = ids["channel"]
    return values


def _fuzz(operation, key, ids, headers, problems, statuses) -> None:
    """Call one operation with a few generated inputs; record its statuses and its first problem."""

    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        for name in case.path_parameters or {}:
            if name in ids:
                case.path_parameters[name] = ids[name]
        # The schema's security schemes make schemathesis generate its own (junk) credentials.
        case.headers = {**(case.headers or {}), **headers}
        case.cookies = {}
        response = case.call()
        statuses.setdefault(key, []).append(response.status_code)
        if key in problems:
            return  # one report per operation is enough
        if response.status_code >= 500:
            problems[key] = f"{key}: {response.status_code} {response.text[:300]}"
            return
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as exc:
            problems[key] = f"{key}: {response.status_code} {exc.exceptions[0].title}\n{str(exc)[:1500]}"

    call()


@pytest.fixture
def keep_connections():
    """Calls go through the WSGI app, whose request signals would close the test's database
    connection (and its transaction) after each one; Django's test client unhooks them the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_every_operation_answers_without_server_errors_and_as_its_schema_says(
    real_objects, user, settings, keep_connections
):
    from apps.accounts.tokens import issue_jwt

    settings.ALLOWED_HOSTS = ["*"]
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    headers = {"Authorization": f"Bearer {issue_jwt(user).access_token}"}
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    assert len(operations) > 50
    problems: dict[tuple[str, str], str] = {}
    statuses: dict[tuple[str, str], list[int]] = {}
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        if key not in EXCLUDED:
            _fuzz(operation, key, _real_ids(operation.path, real_objects), headers, problems, statuses)
    assert not problems, "\n\n".join(problems.values())
    # The calls reached the views' logic (real ids, valid credentials), not only 401s and 404s.
    succeeded = [key for key, codes in statuses.items() if any(200 <= code < 300 for code in codes)]
    assert len(succeeded) >= 40, statuses
