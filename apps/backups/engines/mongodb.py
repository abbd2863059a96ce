"""MongoDB: pymongo for the connection test; mongodump or the built-in dumper for backups."""

from __future__ import annotations

from apps.backups.engines.base import ConnectionInfo, ConnectionResult, Engine


class MongoEngine(Engine):
    name = "mongodb"
    label = "MongoDB"
    default_port = 27017

    def client(self, conn: ConnectionInfo, timeout: int):
        """Return a pymongo client for the connection (credentials passed as arguments, not in a URI)."""
        import pymongo

        kwargs = {
            "host": conn.host or "127.0.0.1",
            "port": conn.port or self.default_port,
            "serverSelectionTimeoutMS": timeout * 1000,
            "connectTimeoutMS": timeout * 1000,
            "directConnection": True,
        }
        if conn.username:
            kwargs.update(
                username=conn.username,
                password=conn.password,
                authSource=conn.options.get("auth_source") or "admin",
            )
        return pymongo.MongoClient(**kwargs)

    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        from pymongo.errors import OperationFailure, PyMongoError, ServerSelectionTimeoutError

        where = f"{conn.host or '127.0.0.1'}:{conn.port or self.default_port}"
        client = self.client(conn, timeout)
        try:
            info = client.server_info()
            names = client[conn.database_name].list_collection_names() if conn.database_name else []
        except OperationFailure as exc:
            if exc.code in (18, 8000) or "auth" in str(exc).lower():
                return ConnectionResult(False, f"Authentication failed for user {conn.username!r}")
            return ConnectionResult(False, f"Connection failed: {exc}")
        except ServerSelectionTimeoutError:
            return ConnectionResult(False, f"Host unreachable: no MongoDB server answered at {where}")
        except PyMongoError as exc:
            return ConnectionResult(False, f"Connection failed: {exc}")
        finally:
            client.close()
        message = "Connected" if names or not conn.database_name else "Connected (database is empty)"
        return ConnectionResult(True, message, server_version=info.get("version"))
