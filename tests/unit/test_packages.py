"""Our top-level packages import from this repository, not from same-named PyPI projects."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [
    "core",
    "config",
    "features",
    "rules",
    "storage",
    "artifacts",
    "engine",
    "runtime",
    "client",
    "serving",
    "ui",
    "training",
    "cli",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_imports_from_this_repo(name: str) -> None:
    """`import <name>` resolves to <repo>/<name>/__init__.py."""
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve() == REPO / name / "__init__.py"
