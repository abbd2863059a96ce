"""The manifest beside every copy: what the file is and how to restore it without BackupManager.

`<name>.manifest.json` lies next to `<name>` at each destination. It holds no
secret: database and engine, sizes, sha256, compression, the age recipient
the file is encrypted to, and the commands that restore it by hand. The
`catalogue import` command rebuilds backup records from these files after
the host (and its metadata database) was lost.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

FORMAT = "backupmanager-manifest"
VERSION = 1
SUFFIX = ".manifest.json"

# How each engine's dump is loaded by hand (after decrypting and decompressing to stdout).
_RESTORE_TOOL = {
    "postgresql": "pg_restore --clean --if-exists --no-owner --dbname <target>",
    "mysql": "mysql <target>   (or mariadb <target>)",
    "mongodb": "mongorestore --archive --drop   (archives written by mongodump or the built-in dumper)",
    "sqlite": "cat > <target file>.sqlite3   (the stream is a whole SQLite database file)",
}


def manifest_name(file_name: str) -> str:
    """`x.dump.zst.age` → `x.dump.zst.age.manifest.json`."""
    return file_name + SUFFIX


def restore_command(file_name: str, engine: str, compression: str, encrypted: bool) -> str:
    """The shell pipeline that restores this file by hand with standard tools."""
    steps = []
    if encrypted:
        steps.append(f"age -d -i key.txt {file_name}")
    else:
        steps.append(f"cat {file_name}")
    if compression == "zstd":
        steps.append("zstd -d")
    elif compression == "gzip":
        steps.append("gzip -d")
    steps.append(_RESTORE_TOOL.get(engine, "<the engine's restore tool>"))
    return " | ".join(steps)


def build(
    *,
    backup_id: int,
    file_name: str,
    database_name: str,
    engine: str,
    created_at: datetime,
    size_bytes: int,
    sha256: str,
    compression: str,
    encryption_recipient: str,
    trigger: str,
) -> dict[str, Any]:
    """The manifest of one backup (the same at every destination)."""
    encrypted = bool(encryption_recipient)
    return {
        "format": FORMAT,
        "version": VERSION,
        "backup_id": backup_id,
        "file_name": file_name,
        "database": {"name": database_name, "engine": engine},
        "created_at": created_at.isoformat(),
        "trigger": trigger,
        "size_bytes": size_bytes,
        "sha256": sha256,
        "compression": compression,
        "encryption": {"format": "age-v1", "recipient": encryption_recipient} if encrypted else None,
        "restore": restore_command(file_name, engine, compression, encrypted),
    }


def dumps(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


class ManifestError(ValueError):
    """A file is not a manifest this version understands (the message says why)."""


def loads(data: bytes) -> dict[str, Any]:
    """Parse and check a manifest; ManifestError when it is not one."""
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ManifestError("not a BackupManager manifest")
    if manifest.get("version") != VERSION:
        raise ManifestError(f"manifest version {manifest.get('version')!r} is not supported")
    required = ("file_name", "database", "created_at", "size_bytes", "sha256", "compression")
    missing = [key for key in required if key not in manifest]
    if missing:
        raise ManifestError(f"missing {', '.join(missing)}")
    name = manifest["file_name"]
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ManifestError("file_name must be a plain file name")
    sha = manifest["sha256"]
    if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ManifestError("sha256 must be 64 hex digits")
    if not isinstance(manifest["size_bytes"], int) or manifest["size_bytes"] < 0:
        raise ManifestError("size_bytes must be a whole number")
    return manifest
