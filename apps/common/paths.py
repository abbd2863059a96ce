"""Path helpers shared by the apps (no Django here)."""

from __future__ import annotations

import os


def is_inside(path: str, root: str) -> bool:
    """Return True if the canonical `path` is `root` or lies below it (both already resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
