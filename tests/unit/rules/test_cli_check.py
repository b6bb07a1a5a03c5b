"""`vigil rules check PATH` validates offline with the loader's exact messages and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import rules_commands
from config.settings import CONFIG_DIR

WriteRules = Callable[..., Path]
RuleItem = Callable[..., str]


@pytest.fixture
def app() -> typer.Typer:
    """A root app with only the `rules` topic registered."""
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Test root."""

    rules_commands.register(root)
    return root


@pytest.fixture
def runner() -> CliRunner:
    """A Click runner that keeps stdout and stderr apart."""
    return CliRunner()


def test_shipped_rules_pass(app: typer.Typer, runner: CliRunner) -> None:
    """The shipped rules check clean against the configured feature spec; exit code 0."""
    result = runner.invoke(app, ["rules", "check", str(CONFIG_DIR / "rules")])
    assert result.exit_code == 0, result.output
    assert "ok, " in result.stdout
    assert "version " in result.stdout


def test_invalid_rules_print_every_problem_and_exit_1(
    app: typer.Typer, runner: CliRunner, write_rules: WriteRules, rule_item: RuleItem
) -> None:
    """Each problem is printed as file:line:col: rule <id>: message; exit code 1."""
    directory = write_rules(
        main="rules:\n"
        + rule_item("big", "txn.amount > 1000")
        + rule_item("ghost", "features.no_such_feature > 1.0")
    )
    result = runner.invoke(
        app,
        ["rules", "check", str(directory), "--features", str(CONFIG_DIR / "features.yaml")],
    )
    assert result.exit_code == rules_commands.EXIT_INVALID
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{directory / 'main.yaml'}:4:22: rule big: ")
    assert lines[1].startswith(f"{directory / 'main.yaml'}:9:19: rule ghost: undefined field")
    assert "is invalid (2 problems)" in lines[2]
    assert result.stdout == ""


def test_single_file_can_be_checked(
    app: typer.Typer,
    runner: CliRunner,
    write_rules: WriteRules,
    rule_item: RuleItem,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PATH may be one rule file; feature names come from the feature spec."""
    monkeypatch.setattr(rules_commands, "feature_names", lambda _: ("txn_count_by_account_1h",))
    directory = write_rules(
        main="rules:\n" + rule_item("burst", "features.txn_count_by_account_1h > 9.0")
    )
    result = runner.invoke(app, ["rules", "check", str(directory / "main.yaml")])
    assert result.exit_code == 0, result.output
    assert "1 rules (1 enabled) in 1 file," in result.stdout


def test_missing_path_is_a_usage_error(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    """A path that does not exist is rejected by argument parsing (exit code 2)."""
    result = runner.invoke(app, ["rules", "check", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "Invalid value for 'PATH'" in result.stderr
