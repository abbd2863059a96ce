"""What every database engine provides: connection info, a connection test, dump and restore."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from apps.common.masking import mask_secrets


@dataclass(frozen=True)
class ConnectionInfo:
    """Everything needed to reach one database. `password` is plaintext: never log this object."""

    engine: str
    host: str = ""
    port: int | None = None
    database_name: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def secrets(self) -> list[str]:
        return [self.password] if self.password else []

    def mask(self, text: str) -> str:
        """Return text with this connection's secrets masked."""
        return mask_secrets(text, self.secrets)


@dataclass
class ConnectionResult:
    """The outcome of a connection test, as the API returns it."""

    ok: bool
    message: str
    server_version: str | None = None
    duration_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "message": self.message,
            "server_version": self.server_version,
            "duration_ms": self.duration_ms,
        }


class Engine:
    """Base class of the engine registry's entries."""

    name: ClassVar[str]
    label: ClassVar[str]
    default_port: ClassVar[int | None] = None
    uses_network: ClassVar[bool] = True
    sensitive_fields: ClassVar[tuple[str, ...]] = ("password",)

    def check_connection(self, conn: ConnectionInfo, timeout: int) -> ConnectionResult:
        """Try to connect; return ok with the server version or a message naming the failed step."""
        raise NotImplementedError

    def test_connection(self, conn: ConnectionInfo, timeout: int = 5) -> ConnectionResult:
        """Run check_connection, time it, and make sure no secret leaks into the message."""
        started = time.monotonic()
        try:
            result = self.check_connection(conn, timeout)
        except Exception as exc:  # a driver error we did not classify
            result = ConnectionResult(False, f"Connection failed: {exc}")
        result.message = conn.mask(result.message)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result
