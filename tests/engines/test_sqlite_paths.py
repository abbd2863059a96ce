"""Which SQLite files a group owner may register: never BackupManager's own, never outside the roots."""

import sqlite3

import pytest
from django.conf import settings as django_settings

from apps.engines import ConnectionInfo, get_engine
from apps.engines.base import EngineError
from apps.engines.sqlite import path_problem


def make_db(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    return path


@pytest.fixture
def roots(tmp_path, settings):
    settings.BM_SQLITE_ROOTS = [str(tmp_path / "apps")]
    settings.BM_ALLOWED_ROOTS = [str(tmp_path / "backups")]
    return tmp_path


def test_files_under_the_sqlite_roots_are_allowed(roots):
    assert path_problem(str(make_db(roots / "apps" / "shop.db"))) is None


def test_files_outside_the_roots_and_symlinks_out_of_them_are_refused(roots):
    outside = make_db(roots / "elsewhere" / "secret.db")
    assert "must lie under BM_SQLITE_ROOTS" in path_problem(str(outside))
    link = roots / "apps" / "link.db"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    assert "must lie under BM_SQLITE_ROOTS" in path_problem(str(link))


def test_backupmanagers_own_metadata_database_is_refused(roots, monkeypatch):
    metadata = make_db(roots / "apps" / "metadata.sqlite3")
    monkeypatch.setitem(django_settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    monkeypatch.setitem(django_settings.DATABASES["default"], "NAME", str(metadata))
    assert path_problem(str(metadata)) == "This is BackupManager's own metadata database."
    assert path_problem(str(metadata) + "-wal") == "This is BackupManager's own metadata database."


def test_files_in_a_backup_destination_area_are_refused(roots, settings):
    settings.BM_SQLITE_ROOTS = [str(roots)]
    inside = make_db(roots / "backups" / "team" / "x.sqlite3")
    assert path_problem(str(inside)) == "The file lies in a backup destination folder."


def test_the_engine_refuses_at_run_time_too(roots, tmp_path):
    outside = make_db(roots / "elsewhere" / "secret.db")
    engine = get_engine("sqlite")
    conn = ConnectionInfo(engine="sqlite", database_name=str(outside))
    result = engine.test_connection(conn)
    assert result.ok is False and "BM_SQLITE_ROOTS" in result.message
    with pytest.raises(EngineError, match="BM_SQLITE_ROOTS"):
        engine.dump(conn, timeout=5, workdir=tmp_path)
    with pytest.raises(EngineError, match="BM_SQLITE_ROOTS"), open(outside, "rb") as source:
        engine.restore(conn, source, timeout=5, workdir=tmp_path)
    assert sqlite3.connect(outside).execute("SELECT count(*) FROM t").fetchone() == (0,)


@pytest.mark.django_db
def test_the_api_refuses_to_register_a_file_outside_the_roots(api_client, group, roots):
    outside = make_db(roots / "elsewhere" / "secret.db")
    body = {"group_id": group.id, "name": "x", "engine": "sqlite", "database_name": str(outside)}
    response = api_client.post("/api/databases/", body, format="json")
    assert response.status_code == 400
    assert "must lie under BM_SQLITE_ROOTS" in response.json()["database_name"][0]
    probe = api_client.post("/api/databases/test-connection", body, format="json")
    assert probe.status_code == 400  # not even a probe of whether the file exists
