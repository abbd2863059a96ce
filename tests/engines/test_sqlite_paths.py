"""Which SQLite files the engine uses: only in the folders it is given, never BackupManager's own
or a backup folder, and a restore never replaces a file that is not a SQLite database."""

import sqlite3

import pytest

from apps.engines import ConnectionInfo, get_engine
from apps.engines.base import EngineError
from apps.engines.sqlite import NOT_FOUND, path_problem


def make_db(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    return path


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "apps").mkdir()
    return tmp_path / "apps"


def conn_for(path, folder, **kwargs):
    return ConnectionInfo(engine="sqlite", database_name=str(path), allowed_folders=(str(folder),), **kwargs)


def test_files_in_the_given_folders_are_allowed(folder):
    assert path_problem(str(make_db(folder / "shop.db")), [str(folder)]) is None


def test_with_no_folder_given_nothing_is_allowed(folder):
    assert "SQLite folders (none)" in path_problem(str(make_db(folder / "shop.db")), [])


def test_files_outside_the_folders_and_symlinks_out_of_them_are_refused(folder, tmp_path):
    outside = make_db(tmp_path / "elsewhere" / "secret.db")
    assert "must lie in one of this group's SQLite folders" in path_problem(str(outside), [str(folder)])
    link = folder / "link.db"
    link.symlink_to(outside)
    assert "must lie in one of this group's SQLite folders" in path_problem(str(link), [str(folder)])


def test_forbidden_files_and_folders_are_refused(folder):
    metadata = make_db(folder / "metadata.sqlite3")
    backups = folder / "backups"
    inside = make_db(backups / "team" / "x.sqlite3")
    forbidden = [str(metadata), str(backups)]
    for path in (metadata, f"{metadata}-wal", inside):
        assert path_problem(str(path), [str(folder)], forbidden) == (
            "This file is BackupManager's own or lies in a backup folder."
        )


def test_the_engine_refuses_at_run_time_and_says_the_same_for_outside_and_missing(folder, tmp_path):
    outside = make_db(tmp_path / "elsewhere" / "secret.db")
    engine = get_engine("sqlite")
    conn = conn_for(outside, folder)
    result = engine.test_connection(conn)
    missing = engine.test_connection(conn_for(folder / "missing.db", folder))
    assert result.ok is False and result.message == missing.message == NOT_FOUND
    with pytest.raises(EngineError, match="SQLite folders"):
        engine.dump(conn, timeout=5, workdir=tmp_path)
    with pytest.raises(EngineError, match="SQLite folders"), open(outside, "rb") as source:
        engine.restore(conn, source, timeout=5, workdir=tmp_path)
    assert sqlite3.connect(outside).execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_restore_never_replaces_a_file_that_is_not_a_sqlite_database(folder, tmp_path):
    backup = make_db(tmp_path / "backup.db")
    notes = folder / "notes.txt"
    notes.write_bytes(b"important notes, not a database\n")
    empty = folder / "empty.db"
    empty.write_bytes(b"")
    engine = get_engine("sqlite")
    for target in (notes, empty):
        before = target.read_bytes()
        with pytest.raises(EngineError, match="is not a SQLite database; it was left as it is"):
            with open(backup, "rb") as source:
                engine.restore(conn_for(target, folder), source, timeout=5, workdir=tmp_path)
        assert target.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["empty.db", "notes.txt"]  # no partial left


def test_a_restore_replaces_a_sqlite_database_or_creates_a_missing_file(folder, tmp_path):
    backup = make_db(tmp_path / "backup.db")
    old = folder / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE other (y)").connection.commit()
    engine = get_engine("sqlite")
    for target in (old, folder / "new.db"):
        with open(backup, "rb") as source:
            engine.restore(conn_for(target, folder), source, timeout=5, workdir=tmp_path)
        tables = sqlite3.connect(target).execute("SELECT name FROM sqlite_master").fetchall()
        assert tables == [("t",)]
