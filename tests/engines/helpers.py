"""Helpers for the engine tests: drain a dump, fake tools on PATH."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

from apps.engines.base import DumpStream

CHUNK = 1024 * 1024


def drain(stream: DumpStream, path: Path) -> str:
    """Read the whole dump into `path` in 1 MiB chunks, finish() it, return its sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    stream.finish()
    return digest.hexdigest()


def fake_tool(bindir: Path, name: str, script: str) -> Path:
    """Write an executable shell script named `name` into `bindir`."""
    bindir.mkdir(parents=True, exist_ok=True)
    path = bindir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def path_with(bindir: Path) -> str:
    return f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
