"""`vigil generate`: writes a dataset and reports it; bad arguments exit 2 with a clear message."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app, main
from training.dataset import read_dataset


def run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the real entry point (which maps Vigil errors to exit 2); return code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["vigil", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def test_generate_writes_a_dataset_and_a_summary(tmp_path: Path) -> None:
    """The command writes the file and prints rows, fraud share and per-scenario counts."""
    out = tmp_path / "data.parquet"
    args = ["generate", "--accounts", "40", "--days", "5", "--seed", "2", "--fraud-rate", "0.05"]
    result = CliRunner().invoke(app, [*args, "--start", "2024-03-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = read_dataset(out)
    assert f"wrote {len(data):,} transactions" in result.output
    assert "  legit: " in result.output
    assert data["timestamp"].min() >= pd.Timestamp("2024-03-01T00:00:00Z")


def test_bad_output_suffix_exits_2_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output file that is neither .csv nor .parquet is refused before any work."""
    code, _, err = run_main(["generate", "--out", str(tmp_path / "data.json")], monkeypatch, capsys)
    assert code == 2
    assert "--out" in err
    assert "must end in .csv or .parquet" in err
    assert not (tmp_path / "data.json").exists()


def test_bad_start_exits_2_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A start that is not an ISO date is named in the error."""
    args = ["generate", "--start", "first of May", "--out", str(tmp_path / "d.csv")]
    code, _, err = run_main(args, monkeypatch, capsys)
    assert code == 2
    assert "--start: 'first of May' is not an ISO 8601 date" in err


def test_out_of_range_options_are_usage_errors(tmp_path: Path) -> None:
    """Zero accounts or a fraud rate above 0.5 are rejected by the option parser (exit 2)."""
    runner = CliRunner()
    zero = runner.invoke(app, ["generate", "--accounts", "0", "--out", str(tmp_path / "d.csv")])
    assert zero.exit_code == 2
    assert "--accounts" in zero.output
    rate = runner.invoke(app, ["generate", "--fraud-rate", "0.9", "--out", str(tmp_path / "d.csv")])
    assert rate.exit_code == 2
    assert "--fraud-rate" in rate.output
