"""Destination operations shared by the web UI and the API."""

from __future__ import annotations

import os

from django.core.exceptions import ValidationError

from apps.destinations.paths import validate_local_path


def prepare_local_folder(raw_path: str) -> str:
    """Validate a local folder, create it if needed, and return its canonical path."""
    check = validate_local_path(raw_path)
    if not check.valid:
        raise ValidationError({"path": [check.message]})
    if not check.writable:
        raise ValidationError({"path": [check.message]})
    if not check.exists:
        try:
            create_local_folder(check.resolved)
        except OSError as exc:
            raise ValidationError({"path": [f"Cannot create the folder: {exc.strerror}."]}) from None
    return check.resolved


FOLDER_MODE = 0o750


def create_local_folder(path: str) -> None:
    """Create a destination folder and its missing parents, each 0750 whatever the umask.

    The one place that creates them (page, API, admin). Backups hold whole databases: only
    the server's user and group may list them. Folders that already exist keep their mode.
    """
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise
            continue
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask
