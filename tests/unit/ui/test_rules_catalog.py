"""Rule files on the Rules page: listing, validation with positions, atomic publishing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR
from core.errors import InvalidInputError, Problem
from rules.loader import read_rule_sources
from ui.rules_catalog import RuleCatalog, editor_problem

EXTRA = """
  - id: huge-payment
    description: Any payment over one million.
    when: txn.amount > 1000000.0
    action: review
    score: 0.4
"""


@pytest.fixture
def catalog(tmp_path: Path) -> RuleCatalog:
    """A catalog over a copy of the shipped rules."""
    shutil.copytree(CONFIG_DIR / "rules", tmp_path / "rules")
    return RuleCatalog(tmp_path / "rules", CONFIG_DIR / "features.yaml")


def test_active_rules_have_versions_files_and_descriptions(catalog: RuleCatalog) -> None:
    """The active set's version is the directory's content hash; rules know their file."""
    active = catalog.active()
    assert active.version == read_rule_sources(catalog.directory).version
    hopping = active.by_id()["ato-country-hopping"]
    assert hopping.file == "account_takeover.yaml"
    assert hopping.description == "Payments from three or more countries within a day."
    assert set(active.files) == set(catalog.file_names())


def test_valid_edit_reports_the_version_it_would_make(catalog: RuleCatalog) -> None:
    """Validation of a good edit gives the version the directory will have once written."""
    text = catalog.read("velocity.yaml") + EXTRA
    validation = catalog.validate("velocity.yaml", text)
    assert validation.ok
    published = catalog.publish("velocity.yaml", text)
    assert published.version == validation.version == read_rule_sources(catalog.directory).version
    assert catalog.active().by_id()["huge-payment"].file == "velocity.yaml"


def test_invalid_edit_gives_positions_and_writes_nothing(catalog: RuleCatalog) -> None:
    """A duplicate id is reported at its line and column; the file is unchanged."""
    before = catalog.read("velocity.yaml")
    text = before + EXTRA.replace("huge-payment", "ato-country-hopping")
    result = catalog.publish("velocity.yaml", text)
    assert not result.ok
    (problem,) = result.problems
    assert (problem.file, problem.line) == ("velocity.yaml", len(before.splitlines()) + 2)
    assert problem.column > 0
    assert "duplicate id" in problem.message
    assert catalog.read("velocity.yaml") == before
    assert not [p for p in catalog.directory.iterdir() if p.name.startswith(".")]


def test_yaml_syntax_error_is_placed(catalog: RuleCatalog) -> None:
    """Broken YAML is a problem with a line, not an exception."""
    result = catalog.validate("velocity.yaml", "rules:\n  - id: [unclosed\n")
    assert not result.ok
    assert result.problems[0].line >= 2


def test_file_names_are_checked(catalog: RuleCatalog) -> None:
    """Paths outside the directory and unknown files are refused."""
    with pytest.raises(InvalidInputError, match="invalid rule file name"):
        catalog.validate("../evil.yaml", "rules: []")
    with pytest.raises(InvalidInputError, match="unknown rule file"):
        catalog.read("missing.yaml")


def test_editor_problem_splits_locations() -> None:
    """file:line:col becomes parts (file name only); other locations keep line 0."""
    placed = editor_problem(Problem("/x/rules/a.yaml:3:7", "bad"))
    assert (placed.file, placed.line, placed.column, str(placed)) == (
        "a.yaml",
        3,
        7,
        "a.yaml:3:7: bad",
    )
    unplaced = editor_problem(Problem("/x/rules", "no rule files"))
    assert (unplaced.file, unplaced.line) == ("rules", 0)
