"""The package layout in docs/architecture.md holds: no package imports one it may not."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"
TABLE_HEADING = "## Packages and their imports"
EVERYTHING = "everything"
NOT_PACKAGES = {"tests", "bench", "docs", "deploy", "var"}
"""Folders that are not importable layers (tests, benchmarks and tools may import anything)."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One import a package may not make."""

    where: str
    imported: str

    def __str__(self) -> str:
        return f"{self.where} imports {self.imported}"


def read_rules(text: str) -> dict[str, frozenset[str] | None]:
    """Package → the names it may import (``None``: everything), from the markdown table."""
    section = text.split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    rules: dict[str, frozenset[str] | None] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`(\w+)/`", cells[0]) if len(cells) == 3 else None
        if name is None:
            continue
        allowed = cells[2]
        rules[name.group(1)] = (
            None if allowed == EVERYTHING else frozenset(re.findall(r"`([\w.]+)`", allowed))
        )
    return rules


def imports_of(source: str) -> Iterator[tuple[int, str]]:
    """Every absolute import in ``source`` (also inside functions and TYPE_CHECKING blocks)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def is_allowed(module: str, allowed: frozenset[str]) -> bool:
    """Whether ``module`` is one of ``allowed`` or inside one (``engine.contracts.x``)."""
    return any(module == name or module.startswith(f"{name}.") for name in allowed)


def violations(root: Path, rules: Mapping[str, frozenset[str] | None]) -> list[Violation]:
    """Imports under ``root`` of our packages that the rules do not allow."""
    found: list[Violation] = []
    for package, allowed in rules.items():
        if allowed is None:
            continue
        for path in sorted((root / package).rglob("*.py")):
            for line, module in imports_of(path.read_text(encoding="utf-8")):
                top = module.split(".")[0]
                if top in rules and top != package and not is_allowed(module, allowed):
                    where = f"{path.relative_to(root)}:{line}"
                    found.append(Violation(where, module))
    return found


def test_every_package_has_a_row() -> None:
    """Each top-level package of the repo is in the table, and the table names no other."""
    packages = {
        path.parent.name
        for path in REPO.glob("*/__init__.py")
        if path.parent.name not in NOT_PACKAGES
    }
    assert set(read_rules(ARCHITECTURE.read_text(encoding="utf-8"))) == packages


def test_the_code_keeps_the_table() -> None:
    """No module imports a package (or module) its package's row does not allow."""
    rules = read_rules(ARCHITECTURE.read_text(encoding="utf-8"))
    assert [str(v) for v in violations(REPO, rules)] == []


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """A deliberate upward import (engine → serving) is reported with file and line."""
    for name in ("engine", "serving"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "engine" / "pipeline.py").write_text(
        "import json\n\n\ndef build():\n    from serving.app import make\n    return make\n"
    )
    rules = {"engine": frozenset(), "serving": frozenset({"engine.contracts"})}
    assert [str(v) for v in violations(tmp_path, rules)] == [
        "engine/pipeline.py:5 imports serving.app"
    ]


def test_a_row_may_allow_one_module_only(tmp_path: Path) -> None:
    """``engine.contracts`` in a row allows that module, not the rest of ``engine``."""
    for name in ("engine", "serving"):
        (tmp_path / name).mkdir()
    (tmp_path / "serving" / "app.py").write_text(
        "from engine.contracts import Scorer\nfrom engine.pipeline import ScoringPipeline\n"
    )
    rules = {"engine": frozenset(), "serving": frozenset({"engine.contracts"})}
    assert [str(v) for v in violations(tmp_path, rules)] == [
        "serving/app.py:2 imports engine.pipeline"
    ]


def test_the_table_is_read_from_markdown() -> None:
    """Rows give their allowed names; ``everything`` means no limit; other lines are ignored."""
    text = (
        f"intro\n{TABLE_HEADING}\n\n| package | job | imports |\n| --- | --- | --- |\n"
        "| `core/` | vocabulary | nothing |\n"
        "| `serving/` | HTTP | `core`, `engine.contracts` (the protocols only) |\n"
        "| `cli/` | the command | everything |\n\n## Next\n| `x/` | a | `core` |\n"
    )
    assert read_rules(text) == {
        "core": frozenset(),
        "serving": frozenset({"core", "engine.contracts"}),
        "cli": None,
    }
