"""What a database holds, cheaply: tables (collections) and their row counts; and emptying a scratch target.

Recorded at backup time and compared after a restore drill. Counts are exact
where that is cheap (SQLite `count(*)` on a snapshot-sized file is not
always cheap, but SQLite databases here are small; MongoDB's
`estimated_document_count` reads metadata) and estimates elsewhere
(PostgreSQL `pg_class.reltuples`, MySQL `information_schema.tables.table_rows`),
where `exact` is False and a drill compares with a tolerance.

`empty(conn)` removes every table or collection of a database: only drills
call it, on a scratch target that is never the source.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from apps.engines.base import ConnectionInfo, EngineError
from apps.engines.mongodb import MongoEngine


@dataclass
class Inventory:
    """Tables (or collections) → row count; None when the count is unknown (never analysed)."""

    tables: dict[str, int | None] = field(default_factory=dict)
    exact: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"tables": self.tables, "exact": self.exact}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Inventory | None:
        if not data or not isinstance(data.get("tables"), dict):
            return None
        return cls(dict(data["tables"]), bool(data.get("exact", True)))


def take(conn: ConnectionInfo, timeout: int = 30, *, exact: bool = False) -> Inventory:
    """Count what `conn`'s database holds; `exact` forces count(*) on PostgreSQL and MySQL (drills)."""
    try:
        if conn.engine == "postgresql":
            return _postgresql(conn, timeout, exact)
        if conn.engine == "mysql":
            return _mysql(conn, timeout, exact)
        if conn.engine == "sqlite":
            return _sqlite(conn)
        if conn.engine == "mongodb":
            return _mongodb(conn, timeout)
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(conn.mask(f"Cannot list the tables of the database: {exc}")) from None
    raise EngineError(f"No inventory for engine {conn.engine!r}")


def empty(conn: ConnectionInfo, timeout: int = 60) -> None:
    """Drop every table (collection) of `conn`'s database; the caller made sure it is a scratch target."""
    try:
        if conn.engine == "postgresql":
            _pg_execute(conn, timeout, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        elif conn.engine == "mysql":
            _mysql_empty(conn, timeout)
        elif conn.engine == "sqlite":
            _sqlite_empty(conn)
        elif conn.engine == "mongodb":
            _mongodb_empty(conn, timeout)
        else:
            raise EngineError(f"Cannot empty a {conn.engine!r} database")
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(conn.mask(f"Cannot empty the drill target: {exc}")) from None


# --- PostgreSQL ------------------------------------------------------------------------


def _pg_connect(conn: ConnectionInfo, timeout: int) -> Any:
    import psycopg2

    connection = psycopg2.connect(
        host=conn.host or "127.0.0.1",
        port=conn.port or 5432,
        dbname=conn.database_name,
        user=conn.username,
        password=conn.password,
        connect_timeout=timeout,
        application_name="backupmanager",
        options=f"-c statement_timeout={timeout * 1000}",
    )
    connection.autocommit = True
    return connection


def _pg_execute(conn: ConnectionInfo, timeout: int, sql: str) -> None:
    connection = _pg_connect(conn, timeout)
    try:
        with connection.cursor() as cur:
            cur.execute(sql)
    finally:
        connection.close()


_PG_TABLES = """
    SELECT n.nspname, c.relname, c.reltuples::bigint
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%%'
    ORDER BY 1, 2
"""


def _postgresql(conn: ConnectionInfo, timeout: int, exact: bool) -> Inventory:
    from psycopg2 import sql

    connection = _pg_connect(conn, timeout)
    try:
        with connection.cursor() as cur:
            cur.execute(_PG_TABLES)
            rows = cur.fetchall()
            tables: dict[str, int | None] = {}
            for schema, name, estimate in rows:
                key = name if schema == "public" else f"{schema}.{name}"
                if exact:
                    cur.execute(
                        sql.SQL("SELECT count(*) FROM {}.{}").format(
                            sql.Identifier(schema), sql.Identifier(name)
                        )
                    )
                    tables[key] = int(cur.fetchone()[0])
                else:
                    # -1: never vacuumed or analysed, the count is unknown.
                    tables[key] = int(estimate) if estimate is not None and estimate >= 0 else None
    finally:
        connection.close()
    return Inventory(tables, exact=exact)


# --- MySQL / MariaDB -----------------------------------------------------------------------


def _mysql_connect(conn: ConnectionInfo, timeout: int) -> Any:
    import MySQLdb

    return MySQLdb.connect(
        host=conn.host or "127.0.0.1",
        port=conn.port or 3306,
        user=conn.username,
        password=conn.password,
        database=conn.database_name,
        connect_timeout=timeout,
        charset="utf8mb4",
    )


def _mysql_tables(cur: Any) -> list[tuple[str, int | None]]:
    cur.execute(
        "SELECT table_name, table_rows FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    return [(str(name), None if rows is None else int(rows)) for name, rows in cur.fetchall()]


def _quote_mysql(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _mysql(conn: ConnectionInfo, timeout: int, exact: bool) -> Inventory:
    connection = _mysql_connect(conn, timeout)
    try:
        cur = connection.cursor()
        tables: dict[str, int | None] = {}
        for name, estimate in _mysql_tables(cur):
            if exact:
                cur.execute(f"SELECT COUNT(*) FROM {_quote_mysql(name)}")
                tables[name] = int(cur.fetchone()[0])
            else:
                tables[name] = estimate
    finally:
        connection.close()
    return Inventory(tables, exact=exact)


def _mysql_empty(conn: ConnectionInfo, timeout: int) -> None:
    connection = _mysql_connect(conn, timeout)
    try:
        cur = connection.cursor()
        cur.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE()"
        )
        objects = cur.fetchall()
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for name, kind in objects:
            what = "VIEW" if kind == "VIEW" else "TABLE"
            cur.execute(f"DROP {what} IF EXISTS {_quote_mysql(str(name))}")
        cur.execute(
            "SELECT routine_name, routine_type FROM information_schema.routines WHERE routine_schema = DATABASE()"
        )
        for name, kind in cur.fetchall():
            cur.execute(f"DROP {kind} IF EXISTS {_quote_mysql(str(name))}")
        cur.execute("SELECT event_name FROM information_schema.events WHERE event_schema = DATABASE()")
        for (name,) in cur.fetchall():
            cur.execute(f"DROP EVENT IF EXISTS {_quote_mysql(str(name))}")
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")
    finally:
        connection.close()


# --- SQLite --------------------------------------------------------------------------------


def _sqlite(conn: ConnectionInfo) -> Inventory:
    uri = f"file:{conn.database_name}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        names = [
            str(row[0])
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables: dict[str, int | None] = {}
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            tables[name] = int(connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])
    finally:
        connection.close()
    return Inventory(tables, exact=True)


def _sqlite_empty(conn: ConnectionInfo) -> None:
    connection = sqlite3.connect(conn.database_name, timeout=5)
    try:
        objects = connection.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        connection.execute("PRAGMA foreign_keys = OFF")
        for kind, name in objects:
            quoted = '"' + str(name).replace('"', '""') + '"'
            connection.execute(f"DROP {'VIEW' if kind == 'view' else 'TABLE'} IF EXISTS {quoted}")
        connection.commit()
        connection.execute("VACUUM")
    finally:
        connection.close()


# --- MongoDB -----------------------------------------------------------------------------


def _mongo_database(conn: ConnectionInfo, timeout: int) -> tuple[Any, Any]:
    client = MongoEngine().client(conn, timeout, socket_timeout=timeout)
    return client, client[conn.database_name]


def _mongodb(conn: ConnectionInfo, timeout: int) -> Inventory:
    client, database = _mongo_database(conn, timeout)
    try:
        names = sorted(n for n in database.list_collection_names() if not n.startswith("system."))
        tables: dict[str, int | None] = {
            name: int(database[name].estimated_document_count()) for name in names
        }
    finally:
        client.close()
    return Inventory(tables, exact=True)


def _mongodb_empty(conn: ConnectionInfo, timeout: int) -> None:
    client, database = _mongo_database(conn, timeout)
    try:
        for name in database.list_collection_names():
            if not name.startswith("system."):
                database.drop_collection(name)
    finally:
        client.close()
