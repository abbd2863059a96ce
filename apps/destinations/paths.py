"""Validation of local destination folders against the backup folders of the destination's group.

A group writes local backups only in its own folders (apps.groups.locations: `<root>/group-<id>`
under each BM_ALLOWED_ROOTS root, plus folders the superuser granted it). The picker lists and
browses those folders only.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass

from apps.common.paths import is_inside
from apps.groups import locations


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


def allowed_roots(group_id: int | None) -> list[str]:
    """The group's backup folders, canonical (symlinks resolved), created (0750) when missing."""
    return locations.folders(group_id, locations.BACKUPS, create=True)


def _nearest_existing(path: str) -> str:
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return probe


def validate_local_path(raw: object, group_id: int | None) -> PathCheck:
    """Check a folder for local backups: absolute, no '..', in one of the group's backup folders
    after symlinks."""
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
    roots = allowed_roots(group_id)
    resolved = os.path.realpath(normalised)
    if not any(is_inside(normalised, root) or is_inside(resolved, root) for root in roots):
        listed = ", ".join(roots) or "none"
        return PathCheck(False, message=f"The path is outside this group's backup folders ({listed}).")
    if not any(is_inside(resolved, root) for root in roots):
        return PathCheck(
            False, message="The path leads outside this group's backup folders through a symlink."
        )
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


def browse(raw: str | None, group_id: int | None) -> dict:
    """List the sub-folders of a folder in the group's backup folders (for the path picker)."""
    roots = allowed_roots(group_id)
    if not raw:
        return {"path": None, "parent": None, "folders": roots}
    check = validate_local_path(raw, group_id)
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
    if not any(is_inside(parent or "", root) for root in roots):
        parent = None
    return {
        "path": check.resolved,
        "parent": parent,
        "folders": [os.path.join(check.resolved, n) for n in names[:500]],
    }
