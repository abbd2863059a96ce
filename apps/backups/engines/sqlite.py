"""SQLite: a file on this host; the online backup API for snapshots."""

from __future__ import annotations

import os
import sqlite3

from apps.backups.engines.base import ConnectionInfo, ConnectionResult, Engine

_HEADER = b"SQLite format 3\x00"


class SQLiteEngine(Engine):
    name = "sqlite"
    label = "SQLite"
    default_port = None
    uses_network = False
    sensitive_fields = ()

    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        path = conn.database_name
        if not path or not os.path.isabs(path):
            return ConnectionResult(False, "The SQLite file path must be an absolute path")
        if not os.path.exists(path):
            return ConnectionResult(False, f"File {path} does not exist")
        if not os.path.isfile(path):
            return ConnectionResult(False, f"{path} is not a regular file")
        if not os.access(path, os.R_OK):
            return ConnectionResult(False, f"File {path} is not readable")
        with open(path, "rb") as fh:
            header = fh.read(len(_HEADER))
        if header != _HEADER:
            return ConnectionResult(False, f"File {path} is not a SQLite database")
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            return ConnectionResult(False, f"File {path} cannot be read as SQLite: {exc}")
        return ConnectionResult(True, "Readable SQLite database", server_version=sqlite3.sqlite_version)
