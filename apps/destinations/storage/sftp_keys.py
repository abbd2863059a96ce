"""SSH host and private keys for SFTP destinations: parse, fingerprint, scan a server's key to pin."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import socket
from typing import Any

from apps.destinations.storage.base import (
    StorageUnreachable,
)

CONNECT_TIMEOUT = 10
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


class HostKeyError(ValueError):
    """A host key line that cannot be used; the message says why."""


def fingerprint(key: Any) -> str:
    """OpenSSH's SHA256 fingerprint of a paramiko key: `SHA256:<base64, no padding>`."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_host_key(line: str) -> tuple[str, Any]:
    """Parse a known_hosts line (`[host]:port ssh-ed25519 AAAA…` or just `ssh-ed25519 AAAA…`).

    Return (normalised line `<type> <base64>`, paramiko key); HostKeyError if it is not a key.
    """
    import paramiko

    tokens = (line or "").strip().split()
    for index, token in enumerate(tokens):
        if token in KEY_TYPES and index + 1 < len(tokens):
            blob_text = tokens[index + 1]
            try:
                blob = base64.b64decode(blob_text, validate=True)
                key = paramiko.PKey.from_type_string(token, blob)
            except (binascii.Error, ValueError, paramiko.SSHException, TypeError) as exc:
                raise HostKeyError(f"The {token} host key does not decode ({type(exc).__name__}).") from None
            return f"{token} {blob_text}", key
    raise HostKeyError(
        "Not a host key: expected a known_hosts line such as “ssh-ed25519 AAAA…” "
        f"(types: {', '.join(KEY_TYPES)})."
    )


def parse_private_key(text: str) -> Any:
    """Parse an OpenSSH/PEM private key given as text, in memory; ValueError with a reason if it is not one."""
    import paramiko

    text = (text or "").strip() + "\n"
    last = None
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except paramiko.PasswordRequiredException:
            raise ValueError(
                "The private key is protected by a passphrase; give a key without one "
                "(ssh-keygen -p -N '' -f KEYFILE on a copy)."
            ) from None
        except (paramiko.SSHException, ValueError, TypeError, IndexError) as exc:
            last = exc
    raise ValueError(
        "Not a private key BackupManager can read (OpenSSH or PEM, Ed25519, ECDSA or RSA)"
        + (f": {type(last).__name__}" if last else "")
        + "."
    )


def host_entry(host: str, port: int) -> str:
    """How known_hosts names a server: `host` on port 22, `[host]:port` otherwise."""
    return host if int(port) == 22 else f"[{host}]:{port}"


def scan_host_key(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> tuple[str, str]:
    """Ask a server for its host key without logging in; return (known_hosts line `<type> <b64>`, fingerprint).

    Nothing is stored: the owner confirms the fingerprint, then the line is pinned.
    """
    import paramiko

    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as exc:
        raise StorageUnreachable(f"SFTP server unreachable: {where} ({_os_reason(exc)})") from None
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise StorageUnreachable(f"SFTP server at {where} did not complete an SSH handshake: {exc}") from None
    finally:
        transport.close()
        sock.close()
    return f"{key.get_name()} {key.get_base64()}", fingerprint(key)


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    return getattr(exc, "strerror", None) or type(exc).__name__
