"""Fixtures for the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path) -> Path:
    """The private 0700 folder the pipeline hands to an engine."""
    path = tmp_path / "work"
    path.mkdir(mode=0o700)
    return path
