"""A new local destination folder is created by one function, 0750 whatever the umask, by page and API alike."""

import os
import stat

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def loose_umask():
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_page_creates_a_new_folder_and_its_parents_0750(
    client, user, make_database, backup_root, loose_umask
):
    database = make_database()
    client.force_login(user)
    backup_root.chmod(0o711)
    target = backup_root / "nightly" / "orders"
    response = client.post(
        reverse("destinations:create", args=[database.pk]),
        {"name": "disk", "path": str(target), "enabled": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert mode(target) == 0o750 and mode(target.parent) == 0o750
    assert mode(backup_root) == 0o711  # an existing folder keeps its mode


def test_the_api_creates_a_new_folder_and_its_parents_0750(
    api_client, make_database, backup_root, loose_umask
):
    database = make_database()
    target = backup_root / "weekly" / "orders"
    response = api_client.post(
        f"/api/databases/{database.pk}/destinations/", {"name": "disk", "path": str(target)}, format="json"
    )
    assert response.status_code == 201, response.content
    assert mode(target) == 0o750 and mode(target.parent) == 0o750
