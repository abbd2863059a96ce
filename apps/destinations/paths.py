"""Validation of local destination folders against the allowed roots."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass

from django.conf import settings

from apps.common.paths import is_inside


@dataclass
class PathCheck:
    """What validate-path answers; `resolved` is the canonical folder when valid."""

    valid: bool
    exists: bool = False
    writable: bool = False
    free_bytes: int | None = None
    message: str = ""
    resolved: str = ""

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("resolved")
        data["path"] = self.resolved or None
        return data


def allowed_roots() -> list[str]:
    """The allowed roots, canonical (symlinks resolved)."""
    return [os.path.realpath(root) for root in settings.BM_ALLOWED_ROOTS]


def _nearest_existing(path: str) -> str:
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return probe


def validate_local_path(raw: object) -> PathCheck:
    """Check a folder for local backups: absolute, no '..', inside an allowed root after symlinks."""
    if not isinstance(raw, str) or not raw.strip():
        return PathCheck(False, message="Enter an absolute folder path.")
    path = raw.strip()
    if "\x00" in path:
        return PathCheck(False, message="The path contains a NUL byte.")
    if not os.path.isabs(path):
        return PathCheck(False, message="The path must be absolute (start with /).")
    if ".." in path.split("/"):
        return PathCheck(False, message="The path must not contain '..'.")
    normalised = os.path.normpath(path)
    roots = allowed_roots()
    resolved = os.path.realpath(normalised)
    if not any(is_inside(normalised, root) or is_inside(resolved, root) for root in roots):
        return PathCheck(False, message=f"The path is outside the allowed roots ({', '.join(roots)}).")
    if not any(is_inside(resolved, root) for root in roots):
        return PathCheck(False, message="The path leads outside the allowed roots through a symlink.")
    exists = os.path.exists(resolved)
    if exists and not os.path.isdir(resolved):
        return PathCheck(False, exists=True, message="The path is a file, not a folder.", resolved=resolved)
    # For a folder that does not exist yet, what counts is the folder it would be created in.
    anchor = resolved if exists else _nearest_existing(resolved)
    if not os.path.isdir(anchor):
        return PathCheck(False, message=f"{anchor} is a file, so the folder cannot be created.")
    writable = os.access(anchor, os.W_OK | os.X_OK)
    try:
        free = shutil.disk_usage(anchor).free
    except OSError:
        free = None
    if exists:
        message = "Folder exists and is writable." if writable else "Folder exists but is not writable."
    else:
        message = (
            "Folder does not exist yet; it will be created."
            if writable
            else f"Folder does not exist and {anchor} is not writable."
        )
    return PathCheck(
        valid=True, exists=exists, writable=writable, free_bytes=free, message=message, resolved=resolved
    )


def browse(raw: str | None) -> dict:
    """List the sub-folders of a folder under the allowed roots (for the path picker)."""
    if not raw:
        return {"path": None, "parent": None, "folders": allowed_roots()}
    check = validate_local_path(raw)
    if not check.valid or not check.exists:
        return {"path": raw, "parent": None, "folders": [], "error": check.message or "Folder not found."}
    try:
        names = sorted(
            entry.name
            for entry in os.scandir(check.resolved)
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
        )
    except OSError as exc:
        return {"path": check.resolved, "parent": None, "folders": [], "error": exc.strerror}
    parent: str | None = os.path.dirname(check.resolved)
    if not any(is_inside(parent or "", root) for root in allowed_roots()):
        parent = None
    return {
        "path": check.resolved,
        "parent": parent,
        "folders": [os.path.join(check.resolved, n) for n in names[:500]],
    }
