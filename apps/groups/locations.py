"""Which folders of this server a group may use: its own folder under each root, plus grants.

Kinds: "backups" (local destinations, under BM_ALLOWED_ROOTS) and "sqlite" (SQLite source files,
under BM_SQLITE_ROOTS). By default a group has `<root>/group-<id>` under every root of the kind,
created 0750 when first needed. The superuser may grant a group any other folder in the admin
(GroupLocation rows without `is_default`), also one folder to several groups on purpose.
Every path check of destinations, the folder picker, SQLite databases, connection tests,
backups and restores asks `folders()` of the group concerned.
"""

from __future__ import annotations

import os

from django.conf import settings

from apps.common.paths import is_inside
from apps.groups.models import GroupLocation

BACKUPS = GroupLocation.Kind.BACKUPS
SQLITE = GroupLocation.Kind.SQLITE
FOLDER_MODE = 0o750


def roots(kind: str) -> list[str]:
    """The configured roots of a kind, canonical (symlinks resolved)."""
    configured = settings.BM_ALLOWED_ROOTS if kind == BACKUPS else settings.BM_SQLITE_ROOTS
    return [os.path.realpath(root) for root in configured]


def folder_name(group_id: int) -> str:
    return f"group-{group_id}"


def default_paths(group_id: int, kind: str) -> list[str]:
    """The group's own folder under each configured root of the kind."""
    return [os.path.join(root, folder_name(group_id)) for root in roots(kind)]


def _ensure_rows(group_id: int, kind: str) -> None:
    for path in default_paths(group_id, kind):
        GroupLocation.objects.get_or_create(group_id=group_id, kind=kind, path=path, is_default=True)


def locations(group_id: int, kind: str | None = None) -> list[GroupLocation]:
    """The group's locations in effect (its default folders under today's roots, and the grants)."""
    kinds = [kind] if kind else [BACKUPS, SQLITE]
    current: set[tuple[str, str]] = set()
    for k in kinds:
        _ensure_rows(group_id, k)
        current |= {(k, p) for p in default_paths(group_id, k)}
    rows = GroupLocation.objects.filter(group_id=group_id, kind__in=kinds).order_by("kind", "path")
    # A default folder under a root that is no longer configured is not in effect.
    return [row for row in rows if not row.is_default or (row.kind, row.path) in current]


def folders(group_id: int | None, kind: str, *, create: bool = False) -> list[str]:
    """The canonical folders of the group for a kind (none without a group); `create` makes them."""
    if not group_id:
        return []
    found = []
    for row in locations(group_id, kind):
        if create:
            make_folder(row.path)
        found.append(os.path.realpath(row.path))
    return found


def make_folder(path: str) -> bool:
    """Create a group folder (0750) if it is missing; False when it cannot be made."""
    if os.path.isdir(path):
        return True
    try:
        os.makedirs(path, mode=FOLDER_MODE, exist_ok=True)
        os.chmod(path, FOLDER_MODE)  # makedirs' mode is filtered by the umask
    except OSError:
        return False
    return True


def allows(group_id: int | None, kind: str, path: str) -> bool:
    """True when `path` (symlinks resolved) lies in one of the group's folders of the kind."""
    real = os.path.realpath(path)
    return any(is_inside(real, folder) for folder in folders(group_id, kind))


def all_backup_folders() -> list[str]:
    """Every folder any group may write backups to (the roots and every grant): never a SQLite source."""
    granted = GroupLocation.objects.filter(kind=BACKUPS, is_default=False).values_list("path", flat=True)
    return sorted({*roots(BACKUPS), *(os.path.realpath(p) for p in granted)})
