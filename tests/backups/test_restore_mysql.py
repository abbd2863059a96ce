"""run_restore into MariaDB end to end: one pass over the copy, all or nothing (bin/test's server)."""

from __future__ import annotations

import pytest

from apps.backups import runner
from apps.backups.models import Restore
from apps.backups.restore import run_restore
from apps.engines.mysql_swap import OLD_MARK, SCRATCH_MARK
from tests.backups.test_runner import flip_byte

pytestmark = pytest.mark.servers


def mysql_db(make_database, mysql_server, name, **overrides):
    fields = {
        "engine": "mysql",
        "host": mysql_server["host"],
        "port": int(mysql_server["port"]),
        "username": mysql_server["user"],
        "password": mysql_server["password"],
        "database_name": name,
    }
    fields.update(overrides)
    return make_database(**fields)


def run(mysql_database, name, *statements):
    conn = mysql_database.connect(name)
    try:
        cur = conn.cursor()
        for statement in statements:
            cur.execute(statement)
    finally:
        conn.close()


def contents(mysql_database, name) -> dict[str, list]:
    conn = mysql_database.connect(name)
    try:
        cur = conn.cursor()
        cur.execute("SHOW TABLES")
        tables = sorted(r[0] for r in cur.fetchall())
        out = {}
        for table in tables:
            cur.execute(f"SELECT * FROM `{table}` ORDER BY 1")
            out[table] = list(cur.fetchall())
        return out
    finally:
        conn.close()


def scratch_databases(mysql_database, target_name) -> list[str]:
    conn = mysql_database.connect()
    try:
        cur = conn.cursor()
        cur.execute("SHOW DATABASES")
        return [r[0] for r in cur.fetchall() if r[0].startswith(target_name + SCRATCH_MARK)]
    finally:
        conn.close()


@pytest.fixture
def backup(mysql_server, mysql_database, make_database, make_destination, make_backup):
    """A completed, uncompressed backup of a database of 3000 rows (the dump is several hundred KB)."""
    name = mysql_database("bm_src")
    run(
        mysql_database,
        name,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40))",
        "INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_3000",
    )
    source = mysql_db(make_database, mysql_server, name, compression="none")
    make_destination(source)
    backup = runner.run_backup(make_backup(source))
    assert backup.status == "completed", backup.error
    return backup


@pytest.fixture
def target(mysql_server, mysql_database, make_database):
    name = mysql_database("bm_dst")
    run(
        mysql_database,
        name,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40))",
        "INSERT INTO t VALUES (1, 'old'), (2, 'old')",
        "CREATE TABLE only_here (id INT)",
        "INSERT INTO only_here VALUES (42)",
    )
    return mysql_db(make_database, mysql_server, name)


def test_a_good_copy_replaces_the_tables_it_holds_in_one_pass(backup, target, mysql_database):
    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    assert restore.status == Restore.Status.COMPLETED, restore.error
    assert restore.bytes_done == backup.size_bytes  # the copy was read once
    got = contents(mysql_database, target.database_name)
    assert len(got["t"]) == 3000 and got["t"][0][1] != "old"
    assert got["only_here"] == [(42,)]
    assert not [t for t in got if t.startswith(OLD_MARK)]
    assert scratch_databases(mysql_database, target.database_name) == []


def test_a_copy_with_a_flipped_byte_near_its_end_leaves_the_target_exactly_as_it_was(
    backup, target, mysql_database
):
    flip_byte(backup.copies.get().location, offset=-200)
    before = contents(mysql_database, target.database_name)

    restore = run_restore(Restore.objects.create(backup=backup, target_database=target))

    assert restore.status == Restore.Status.FAILED
    assert "is corrupt" in restore.error and "the target was not changed" in restore.error
    assert contents(mysql_database, target.database_name) == before
    assert scratch_databases(mysql_database, target.database_name) == []
