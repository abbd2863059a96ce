"""PostgreSQL: psycopg2 for the connection test; pg_dump / pg_restore for backups."""

from __future__ import annotations

from apps.backups.engines.base import ConnectionInfo, ConnectionResult, Engine


class PostgresEngine(Engine):
    name = "postgresql"
    label = "PostgreSQL"
    default_port = 5432

    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        import psycopg2

        try:
            connection = psycopg2.connect(
                host=conn.host or "127.0.0.1",
                port=conn.port or self.default_port,
                dbname=conn.database_name,
                user=conn.username,
                password=conn.password,
                connect_timeout=timeout,
                application_name="backupmanager",
            )
        except psycopg2.OperationalError as exc:
            return ConnectionResult(False, _classify(str(exc), conn))
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT version()")
                version = cur.fetchone()[0]
        finally:
            connection.close()
        return ConnectionResult(True, "Connected", server_version=version.split(" on ")[0])


def _classify(text: str, conn: ConnectionInfo) -> str:
    lowered = text.lower()
    first = text.strip().splitlines()[-1] if text.strip() else text
    where = f"{conn.host or '127.0.0.1'}:{conn.port or PostgresEngine.default_port}"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"Authentication failed for user {conn.username!r}"
    if "does not exist" in lowered and "database" in lowered:
        return f"Database {conn.database_name!r} does not exist"
    if "timeout" in lowered or "timed out" in lowered:
        return f"Host unreachable: no answer from {where} within the timeout"
    if "could not translate host name" in lowered:
        return f"Host unreachable: cannot resolve {conn.host!r}"
    if "connection refused" in lowered or "could not connect" in lowered:
        return f"Host unreachable: connection to {where} refused"
    return f"Connection failed: {first}"
