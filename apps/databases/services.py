"""Database operations shared by the web UI, the API and the admin."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Max, Q, Sum

from apps.databases.models import Database
from apps.engines import ConnectionInfo, ConnectionResult, get_engine


def test_connection(conn: ConnectionInfo, timeout: int | None = None) -> ConnectionResult:
    """Test a connection with the engine's driver; the message never carries the password."""
    return get_engine(conn.engine).test_connection(conn, timeout or settings.BM_CONNECTION_TIMEOUT)


def backup_stats(database: Database) -> dict:
    """Counts and sizes of a database's backups, as `details` reports them."""
    from apps.backups.models import Backup

    status = Backup.Status
    agg = database.backups.aggregate(
        total_backups=Count("id"),
        completed=Count("id", filter=Q(status=status.COMPLETED)),
        partial=Count("id", filter=Q(status=status.PARTIAL)),
        failed=Count("id", filter=Q(status=status.FAILED)),
        total_size_bytes=Sum("size_bytes", filter=Q(status__in=[status.COMPLETED, status.PARTIAL])),
        last_success_at=Max("finished_at", filter=Q(status=status.COMPLETED)),
    )
    agg["total_size_bytes"] = agg["total_size_bytes"] or 0
    return agg
