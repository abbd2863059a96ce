import os

import pytest

from apps.accounts.models import Membership
from apps.destinations.models import Destination

pytestmark = pytest.mark.django_db


@pytest.fixture
def database(make_database):
    return make_database()


def url(database, suffix=""):
    return f"/api/databases/{database.id}/destinations/{suffix}"


def test_create_normalises_the_path_and_creates_the_folder(api_client, database, backup_root):
    raw = f"{backup_root}//nightly/./copies/"
    response = api_client.post(url(database), {"name": "nas", "path": raw}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["path"] == str(backup_root / "nightly" / "copies")
    assert (backup_root / "nightly" / "copies").is_dir()


@pytest.mark.parametrize(
    "make_path, message",
    [
        (lambda root: "relative/dir", "must be absolute"),
        (lambda root: f"{root}/../escape", "must not contain '..'"),
        (lambda root: "/etc", "outside this group's backup folders"),
    ],
)
def test_bad_paths_are_refused_with_a_reason_and_nothing_is_written(
    api_client, database, backup_root, make_path, message
):
    response = api_client.post(url(database), {"name": "x", "path": make_path(backup_root)}, format="json")
    assert response.status_code == 400
    assert message in response.json()["path"][0]
    assert Destination.objects.count() == 0
    result = api_client.post(
        url(database, "validate-path"), {"path": make_path(backup_root)}, format="json"
    ).json()
    assert result["valid"] is False and message in result["message"]


def test_a_nul_byte_is_refused(api_client, database, backup_root):
    response = api_client.post(url(database), {"name": "x", "path": f"{backup_root}/a\x00b"}, format="json")
    assert response.status_code == 400
    assert response.json()["path"] == ["Null characters are not allowed."]
    assert Destination.objects.count() == 0
    from apps.destinations.paths import validate_local_path

    assert validate_local_path(f"{backup_root}/a\x00b", database.group_id).message == (
        "The path contains a NUL byte."
    )


def test_a_symlink_that_escapes_the_root_is_refused(api_client, database, backup_root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, backup_root / "link")
    response = api_client.post(url(database), {"name": "x", "path": str(backup_root / "link")}, format="json")
    assert response.status_code == 400
    assert "symlink" in response.json()["path"][0]


def test_a_file_is_not_a_folder(api_client, database, backup_root):
    (backup_root / "file").write_text("x")
    result = api_client.post(
        url(database, "validate-path"), {"path": str(backup_root / "file")}, format="json"
    ).json()
    assert result["valid"] is False and "is a file" in result["message"]


def test_validate_path_reports_exists_writable_and_free_space(api_client, database, backup_root):
    result = api_client.post(url(database, "validate-path"), {"path": str(backup_root)}, format="json").json()
    assert result["valid"] and result["exists"] and result["writable"]
    assert result["free_bytes"] > 0
    new = api_client.post(
        url(database, "validate-path"), {"path": str(backup_root / "new")}, format="json"
    ).json()
    assert new["valid"] and not new["exists"] and "will be created" in new["message"]


def test_update_revalidates_the_path(api_client, database, make_destination):
    destination = make_destination(database)
    response = api_client.patch(url(database, f"{destination.id}"), {"path": "/tmp/../etc"}, format="json")
    assert response.status_code == 400
    destination.refresh_from_db()
    assert ".." not in destination.path


def test_duplicate_names_and_incomplete_s3_are_refused(api_client, database, make_destination, backup_root):
    make_destination(database, name="nas")
    dup = api_client.post(url(database), {"name": "nas", "path": str(backup_root)}, format="json")
    assert dup.status_code == 400 and "name" in dup.json()
    s3 = api_client.post(url(database), {"name": "s3", "kind": "s3"}, format="json")
    assert s3.status_code == 400
    assert s3.json() == {
        "bucket": ["Enter the bucket name."],
        "access_key_id": ["Enter the access key ID."],
        "secret_access_key": ["Enter the secret access key."],
    }
    assert Destination.objects.count() == 1


def test_outsiders_get_404_and_viewers_cannot_create(other_client, other_user, database, group, backup_root):
    assert other_client.get(url(database)).status_code == 404
    assert other_client.post(url(database, "validate-path"), {"path": "/"}, format="json").status_code == 404
    Membership.objects.create(user=other_user, group=group, role="viewer")
    assert other_client.get(url(database)).status_code == 200
    assert (
        other_client.post(
            url(database, "validate-path"), {"path": str(backup_root)}, format="json"
        ).status_code
        == 403
    )
    response = other_client.post(url(database), {"name": "x", "path": str(backup_root)}, format="json")
    assert response.status_code == 403
    assert Destination.objects.count() == 0


def test_list_update_and_delete(api_client, database, make_destination):
    destination = make_destination(database, name="nas")
    listing = api_client.get(url(database)).json()
    assert [d["name"] for d in listing] == ["nas"] and listing[0]["database_id"] == database.id
    assert (
        api_client.patch(url(database, f"{destination.id}/"), {"enabled": False}, format="json").json()[
            "enabled"
        ]
        is False
    )
    assert api_client.delete(url(database, f"{destination.id}")).status_code == 204
    assert not Destination.objects.exists()
