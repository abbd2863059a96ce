"""MySQL / MariaDB: MySQLdb for the connection test; mariadb-dump / mysqldump for backups."""

from __future__ import annotations

from apps.backups.engines.base import ConnectionInfo, ConnectionResult, Engine

# MySQL client error codes we turn into plain words.
_ACCESS_DENIED = {1045, 1044, 1698}
_UNKNOWN_DB = 1049
_CANNOT_CONNECT = {2002, 2003, 2005, 2013}


class MySQLEngine(Engine):
    name = "mysql"
    label = "MySQL / MariaDB"
    default_port = 3306

    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        import MySQLdb

        where = f"{conn.host or '127.0.0.1'}:{conn.port or self.default_port}"
        try:
            connection = MySQLdb.connect(
                host=conn.host or "127.0.0.1",
                port=conn.port or self.default_port,
                user=conn.username,
                password=conn.password,
                database=conn.database_name,
                connect_timeout=timeout,
                charset="utf8mb4",
            )
        except MySQLdb.OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code in _ACCESS_DENIED:
                return ConnectionResult(False, f"Authentication failed for user {conn.username!r}")
            if code == _UNKNOWN_DB:
                return ConnectionResult(False, f"Database {conn.database_name!r} does not exist")
            if code in _CANNOT_CONNECT:
                return ConnectionResult(False, f"Host unreachable: cannot connect to {where}")
            return ConnectionResult(False, f"Connection failed: {exc.args[-1] if exc.args else exc}")
        try:
            cur = connection.cursor()
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
        finally:
            connection.close()
        return ConnectionResult(True, "Connected", server_version=str(version))
