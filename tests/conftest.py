"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE = REPO_ROOT / "scenarios" / "baseline.yaml"


@pytest.fixture
def repo_root() -> Path:
    """The repository root (the folder holding the ``casesim`` package)."""
    return REPO_ROOT


@pytest.fixture
def baseline_path() -> Path:
    """Absolute path of ``scenarios/baseline.yaml``."""
    return BASELINE
