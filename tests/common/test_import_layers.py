"""Dependencies flow one way: no app import hidden inside a function, no lower app importing a higher one.

Layers, lowest first: common and engines < accounts, groups < keys < databases <
destinations, schedules < backups < notifications. Doors (views, api/, admin, forms and the
pages' context modules) may import any app, at the top of the module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RANK = {
    "common": 0,
    "engines": 0,
    "accounts": 1,
    "groups": 1,
    "keys": 2,
    "databases": 3,
    "destinations": 4,
    "schedules": 4,
    "backups": 5,
    "notifications": 6,
    "audit": 7,  # listens to every app below (signals, run_finished)
    "metrics": 7,  # reads every app at scrape time
}

# The jobs layer (the worker) lives in the schedules app's folder but sits on top of everything
# it runs: no app below may import it.
JOBS = "schedules.worker"
JOBS_RANK = 10

CHECKED = sorted(
    path
    for path in (ROOT / "apps").rglob("*.py")
    if "migrations" not in path.parts and path.parent != ROOT / "apps"
)

# ui.py holds the pages' shared view mixins (role checks), so it is a door like the views.
DOORS = {"views.py", "admin.py", "forms.py", "context.py", "urls.py", "ui.py"}


def _app_imports(nodes) -> list[tuple[int, str]]:
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("apps."):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("apps.")]
    return found


def _rank_of_module(module: str) -> int:
    parts = module.split(".")  # apps.<app>[.<module>...]
    if ".".join(parts[1:3]) == JOBS:
        return JOBS_RANK
    return RANK[parts[1]]


def _rank_of_path(path: Path) -> int:
    rel = path.relative_to(ROOT / "apps").with_suffix("")
    return _rank_of_module("apps." + ".".join(rel.parts))


def _is_door(path: Path) -> bool:
    rel = path.relative_to(ROOT / "apps")
    return path.name in DOORS or "api" in rel.parts or "management" in rel.parts or "views" in rel.parts


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", CHECKED, ids=_name)
def test_no_app_import_hides_inside_a_function(path):
    tree = ast.parse(path.read_text())
    own = path.relative_to(ROOT / "apps").parts[0]
    hidden = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found = _app_imports(ast.walk(node))
            if path.name == "apps.py" and node.name == "ready":
                # Django's way to connect an app's own signal handlers once the registry is ready.
                found = [(line, m) for line, m in found if m != f"apps.{own}.handlers"]
            hidden += [f"line {line}: {module}" for line, module in found]
    assert hidden == []


@pytest.mark.parametrize("path", [p for p in CHECKED if not _is_door(p)], ids=_name)
def test_a_lower_app_never_imports_a_higher_one(path):
    own = _rank_of_path(path)
    upward = [
        f"line {line}: {module}"
        for line, module in _app_imports(ast.parse(path.read_text()).body)
        if _rank_of_module(module) > own
    ]
    assert upward == []


def test_views_do_not_import_other_apps_views():
    offenders = []
    for path in CHECKED:
        if path.name != "views.py":
            continue
        own = path.relative_to(ROOT / "apps").parts[0]
        for line, module in _app_imports(ast.parse(path.read_text()).body):
            parts = module.split(".")
            if parts[-1] == "views" and parts[1] != own:
                offenders.append(f"{_name(path)} line {line}: {module}")
    assert offenders == []
