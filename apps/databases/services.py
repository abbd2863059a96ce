"""Database operations shared by the web UI, the API and the admin."""

from __future__ import annotations

from django.conf import settings

from apps.engines import ConnectionInfo, ConnectionResult, get_engine


def test_connection(conn: ConnectionInfo, timeout: int | None = None) -> ConnectionResult:
    """Test a connection with the engine's driver; the message never carries the password."""
    return get_engine(conn.engine).test_connection(conn, timeout or settings.BM_CONNECTION_TIMEOUT)
