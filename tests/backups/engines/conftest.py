"""Fixtures for the engine tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path) -> Path:
    """The private 0700 folder the pipeline hands to an engine."""
    path = tmp_path / "work"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def pg_databases(pg_server):
    """Factory: create an empty PostgreSQL database, return its ConnectionInfo; all are dropped afterwards."""
    import psycopg2

    from apps.backups.engines.base import ConnectionInfo

    created: list[str] = []

    def admin():
        connection = psycopg2.connect(
            host=pg_server["host"],
            port=int(pg_server["port"]),
            user=pg_server["user"],
            password=pg_server["password"],
            dbname="postgres",
        )
        connection.autocommit = True
        return connection

    def make(prefix: str = "bm_eng") -> ConnectionInfo:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        connection = admin()
        try:
            with connection.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        created.append(name)
        return ConnectionInfo(
            engine="postgresql",
            host=pg_server["host"],
            port=int(pg_server["port"]),
            database_name=name,
            username=pg_server["user"],
            password=pg_server["password"],
        )

    yield make
    connection = admin()
    try:
        with connection.cursor() as cur:
            for name in created:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


@pytest.fixture
def mysql_databases(mysql_server):
    """Factory: create an empty MariaDB database, return its ConnectionInfo; all are dropped afterwards."""
    import MySQLdb

    from apps.backups.engines.base import ConnectionInfo

    created: list[str] = []

    def admin():
        return MySQLdb.connect(
            host=mysql_server["host"],
            port=int(mysql_server["port"]),
            user=mysql_server["user"],
            password=mysql_server["password"],
            charset="utf8mb4",
        )

    def make(prefix: str = "bm_eng") -> ConnectionInfo:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        connection = admin()
        try:
            connection.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            connection.close()
        created.append(name)
        return ConnectionInfo(
            engine="mysql",
            host=mysql_server["host"],
            port=int(mysql_server["port"]),
            database_name=name,
            username=mysql_server["user"],
            password=mysql_server["password"],
        )

    yield make
    connection = admin()
    try:
        for name in created:
            connection.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        connection.close()
