"""`vigil train` / `vigil evaluate` with date windows, capacity thresholds and --scores-out;
bad flags exit 2 with a message naming the flag, before any work is done."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app, main
from tests.unit.training.train_fixtures import SPEC
from training.dataset import write_dataset
from training.generate import generate_dataset

WINDOW_ARGS = [
    "--train-start", "2024-01-08", "--train-end", "2024-01-29",
    "--test-start", "2024-02-05", "--test-end", "2024-02-15",
]  # fmt: skip
SMALL = ["--trees", "20", "--forest-trees", "20", "--threads", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 45-day generated dataset from 2024-01-01 and a five-feature spec."""
    directory = tmp_path_factory.mktemp("model_commands")
    data = directory / "data.parquet"
    write_dataset(generate_dataset(accounts=150, days=45, seed=3, fraud_rate=0.03), data)
    spec = directory / "features.yaml"
    spec.write_text(SPEC)
    return data, spec


def run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the real entry point (Vigil errors exit 2); return code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["vigil", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


@pytest.mark.parametrize(
    "case",
    [
        (["--train-start", "2024-01-08"], "--test-end", "is required with"),
        (
            [*WINDOW_ARGS[:3], "2024-02-30", *WINDOW_ARGS[4:]],
            "--train-end",
            "'2024-02-30' is not an ISO 8601 date",
        ),
        (
            [*WINDOW_ARGS[:3], "2024-01-08", *WINDOW_ARGS[4:]],
            "--train-end",
            "must be after --train-start",
        ),
        (
            [*WINDOW_ARGS[:5], "2024-01-20", *WINDOW_ARGS[6:]],
            "--test-start",
            "must start at or after the end of the train block",
        ),
        ([*WINDOW_ARGS, "--gap-days", "3"], "--gap-days", "cannot be combined with date windows"),
        ([*WINDOW_ARGS, "--test-fraction", "0.1"], "--test-fraction", "cannot be combined"),
        (["--reviews-per-day", "0"], "--reviews-per-day", "must be > 0"),
        (
            ["--reviews-per-day", "10", "--review-recall", "0.5"],
            "--review-recall",
            "cannot be combined with --reviews-per-day",
        ),
        (["--block-precision", "1.5"], "--block-precision", "must be in (0, 1]"),
        (["--label-delay", "7"], "--label-delay", "is not a label delay"),
    ],
)
def test_bad_train_flags_exit_2_naming_the_flag(
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: tuple[list[str], str, str],
) -> None:
    """Each invalid option is refused with its flag and why; no artifact is written."""
    args, flag, message = case
    data, spec = files
    out = tmp_path / "model"
    base = ["train", "--data", str(data), "--out", str(out), "--features", str(spec)]
    code, _, err = run_main([*base, *args], monkeypatch, capsys)
    assert code == 2
    assert flag in err
    assert message in err
    assert not out.exists()


def test_a_window_without_rows_is_named(
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A test window past the end of the data says so, with the data's span."""
    data, spec = files
    windows = [*WINDOW_ARGS[:4], "--test-start", "2025-01-01", "--test-end", "2025-01-08"]
    args = ["train", "--data", str(data), "--out", str(tmp_path / "m"), "--features", str(spec)]
    code, _, err = run_main([*args, *windows, *SMALL], monkeypatch, capsys)
    assert code == 2
    assert "--test-start/--test-end: no rows in [2025-01-01, 2025-01-08)" in err
    assert "the data spans 2024-01-01" in err


@pytest.mark.parametrize(
    "case",
    [
        (["--scores-out", "scores.json"], "--scores-out", "must end in .csv or .parquet"),
        (["--test-start", "2024-02-05"], "--test-end", "is required with --test-start"),
        (
            ["--on", "all", "--test-start", "2024-02-05", "--test-end", "2024-02-10"],
            "--on",
            "cannot be combined with --test-start/--test-end",
        ),
        (["--test-start", "2024-02-05", "--test-end", "2024-02-01"], "--test-end", "must be after"),
    ],
)
def test_bad_evaluate_flags_exit_2_before_loading_anything(
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: tuple[list[str], str, str],
) -> None:
    """Flags are checked before the model or the data is read (the model dir here is empty)."""
    args, flag, message = case
    data, spec = files
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "empty-model"
    model.mkdir()
    base = ["evaluate", "--model", str(model), "--data", str(data), "--features", str(spec)]
    code, _, err = run_main([*base, *args], monkeypatch, capsys)
    assert code == 2
    assert flag in err
    assert message in err
    assert not (tmp_path / "scores.json").exists()


def test_windows_capacity_and_scores_out_end_to_end(
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Train on date windows with a label delay and a capacity; evaluate a window and write the
    per-transaction scores; an overlapping window is refused."""
    data, spec = files
    out = tmp_path / "model"
    runner = CliRunner()
    trained = runner.invoke(
        app,
        ["train", "--data", str(data), "--out", str(out), "--features", str(spec), *WINDOW_ARGS,
         "--label-delay", "2d", "--reviews-per-day", "30", "--block-precision", "0.8", *SMALL],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "expected" in trained.output
    assert "alerts/day" in trained.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["split"]["mode"] == "windows"
    assert manifest["split"]["label_delay_days"] == 2.0
    assert manifest["threshold_policy"]["reviews_per_day"] == 30.0
    assert manifest["threshold_policy"]["block_precision"] == 0.8
    assert manifest["metrics"]["validation"]["ensemble"]["review_alerts_per_day"] <= 30.0
    assert "## Alerts at the chosen thresholds" in (out / "report.md").read_text()

    scores = tmp_path / "scores.parquet"
    evaluated = runner.invoke(
        app,
        ["evaluate", "--model", str(out), "--data", str(data), "--features", str(spec),
         "--test-start", "2024-02-05", "--test-end", "2024-02-10", "--scores-out", str(scores),
         "--out", str(tmp_path / "window")],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert "on window rows" in evaluated.output
    written = pd.read_parquet(scores)
    metrics = json.loads((tmp_path / "window" / "metrics.json").read_text())
    assert len(written) == metrics["data"]["rows"]
    assert metrics["days"] == 5.0
    assert written["timestamp"].min() >= pd.Timestamp("2024-02-05T00:00:00Z")
    assert written["timestamp"].max() < pd.Timestamp("2024-02-10T00:00:00Z")
    assert set(written["outcome"]) <= {"allow", "review", "block"}
    assert list(written.columns)[:4] == ["transaction_id", "timestamp", "account_id", "label"]

    code, _, err = run_main(
        ["evaluate", "--model", str(out), "--data", str(data), "--features", str(spec),
         "--test-start", "2024-01-20", "--test-end", "2024-02-10"],
        monkeypatch,
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "--test-start" in err
    assert "those rows were trained on" in err
