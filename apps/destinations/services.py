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
            os.makedirs(check.resolved, mode=0o750, exist_ok=True)
        except OSError as exc:
            raise ValidationError({"path": [f"Cannot create the folder: {exc.strerror}."]}) from None
    return check.resolved
