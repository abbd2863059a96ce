"""The engine registry: one small class per database engine."""

from __future__ import annotations

from apps.engines.base import ConnectionInfo, ConnectionResult, Engine
from apps.engines.mongodb import MongoEngine
from apps.engines.mysql import MySQLEngine
from apps.engines.postgresql import PostgresEngine
from apps.engines.sqlite import SQLiteEngine

ENGINES: dict[str, type[Engine]] = {
    "postgresql": PostgresEngine,
    "mysql": MySQLEngine,
    "mongodb": MongoEngine,
    "sqlite": SQLiteEngine,
}

ENGINE_CHOICES = [(key, cls.label) for key, cls in ENGINES.items()]


def get_engine(name: str) -> Engine:
    """Return an instance of the named engine; KeyError if unknown."""
    return ENGINES[name]()


__all__ = ["ENGINES", "ENGINE_CHOICES", "ConnectionInfo", "ConnectionResult", "Engine", "get_engine"]
