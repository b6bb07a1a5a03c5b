"""The `vigil` process configures logging once, when a command first reads the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.context import CliState
from cli.main import app
from config.settings import CONFIG_DIR, Settings


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """Record configure_logging calls instead of touching the test runner's logging."""
    calls: list[Settings] = []
    monkeypatch.setattr("config.logging.configure_logging", calls.append)
    monkeypatch.delenv("VIGIL_CONFIG_FILE", raising=False)
    return calls


def test_reading_settings_configures_logging_once(configured: list[Settings]) -> None:
    """The entry point's state configures logging from the settings on first read only."""
    state = CliState(configure_logging=True)
    first = state.settings
    assert state.settings is first
    assert configured == [first]


def test_in_process_invocations_leave_logging_alone(configured: list[Settings]) -> None:
    """A plain CliState (tests running the app in-process) never configures logging."""
    assert CliState().settings is not None
    assert configured == []


def test_the_command_line_entry_point_turns_it_on(
    configured: list[Settings], tmp_path: Path
) -> None:
    """Run as `vigil` (main passes the flag), a command that reads settings configures logging."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "main.yaml").write_text(
        (CONFIG_DIR / "rules" / "velocity.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = CliRunner().invoke(
        app, ["rules", "check", str(rules)], obj=CliState(configure_logging=True)
    )
    assert result.exit_code == 0, result.output
    assert len(configured) == 1
