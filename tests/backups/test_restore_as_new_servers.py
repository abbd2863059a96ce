"""Restore as a new database on real servers: the worker creates the database, then restores into it."""

from __future__ import annotations

import uuid

import pytest

from apps.backups import runner
from apps.backups.models import Restore
from apps.backups.restore import run_restore
from apps.backups.services import request_restore_as_new
from tests.backups.test_restore_mysql import contents, mysql_db, run

pytestmark = pytest.mark.servers


def test_a_mysql_backup_restores_into_a_database_the_worker_creates(
    user, mysql_server, mysql_database, make_database, make_destination, make_backup
):
    name = mysql_database("bm_src")
    run(
        mysql_database,
        name,
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)",
        "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
    )
    source = mysql_db(make_database, mysql_server, name)
    make_destination(source)
    backup = runner.run_backup(make_backup(source))
    assert backup.status == "completed", backup.error
    new_name = f"bm_new_{uuid.uuid4().hex[:8]}"

    restore = request_restore_as_new(backup, source, user, name="as of then", database_name=new_name)
    try:
        restore = run_restore(restore)
        assert restore.status == Restore.Status.COMPLETED, restore.error
        assert contents(mysql_database, new_name) == contents(mysql_database, name)
        assert (
            restore.target_database.host == source.host
            and restore.target_database.password == source.password
        )
    finally:
        conn = mysql_database.connect()
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{new_name}`")
        conn.close()


def test_a_postgresql_backup_restores_into_a_database_the_worker_creates(
    user, pg_server, pg_database, make_database, make_destination, make_backup
):
    from tests.backups.test_runner import pg_db

    name = pg_database("bm_src")
    conn = pg_database.connect(name)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int primary key, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    conn.close()
    source = pg_db(make_database, pg_server, name)
    make_destination(source)
    backup = runner.run_backup(make_backup(source))
    assert backup.status == "completed", backup.error
    new_name = f"bm_new_{uuid.uuid4().hex[:8]}"

    restore = request_restore_as_new(backup, source, user, name="as of then", database_name=new_name)
    try:
        restore = run_restore(restore)
        assert restore.status == Restore.Status.COMPLETED, restore.error
        conn = pg_database.connect(new_name)
        with conn.cursor() as cur:
            cur.execute("SELECT id, v FROM t ORDER BY id")
            assert cur.fetchall() == [(1, "a"), (2, "b")]
        conn.close()

        # A database that exists on the server (not registered): the worker says so and changes nothing.
        existing = pg_database("bm_exists")
        failed = run_restore(
            request_restore_as_new(backup, source, user, name="taken", database_name=existing)
        )
        assert failed.status == Restore.Status.FAILED
        assert failed.error.startswith("The new database could not be created: postgresql: cannot create")
        assert "already exists" in failed.error
        conn = pg_database.connect(existing)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert cur.fetchone() == (0,)
        conn.close()
    finally:
        admin = pg_database.connect("postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{new_name}" WITH (FORCE)')
        admin.close()
