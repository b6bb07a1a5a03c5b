"""Evaluation scores the chosen rows with the artifact and writes metrics and a report."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
from typer.testing import CliRunner

from artifacts.runtime import LoadedModel
from artifacts.store import load_artifact
from cli.main import app
from core.errors import InvalidInputError
from tests.unit.training.train_fixtures import FAST, SPEC, Labelled, clock, labelled
from training.dataset import write_dataset
from training.evaluate import evaluate, write_evaluation
from training.evaluation_types import METRICS_FILE, Evaluation, Scope
from training.generate import generate_dataset
from training.metrics import at_threshold
from training.train import train


@pytest.fixture(scope="module")
def data() -> Labelled:
    """6,000 synthetic rows over 60 days, 4% fraud."""
    return labelled(seed=5)


@pytest.fixture(scope="module")
def model(data: Labelled, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """An artifact trained on ``data``."""
    out = tmp_path_factory.mktemp("evaluate") / "model"
    train(data.dataset, data.feature_set, out, params=FAST, features=data.features, clock=clock())
    return load_artifact(out, data.feature_set.names)


def test_test_scope_scores_exactly_the_test_block(data: Labelled, model: LoadedModel) -> None:
    """Scope test evaluates the rows at or after the manifest's test start."""
    run = evaluate(model, data.dataset, features=data.features)
    assert run.evaluation.scope is Scope.TEST
    assert run.evaluation.data.rows == model.manifest.split.test.rows
    assert run.evaluation.data.frauds == model.manifest.split.test.frauds
    assert set(run.evaluation.scores) == {"xgboost", "isolation_forest", "ensemble"}


def test_metrics_agree_with_the_manifest(data: Labelled, model: LoadedModel) -> None:
    """On the test block, evaluation reproduces the test metrics recorded at training."""
    run = evaluate(model, data.dataset, features=data.features)
    recorded = model.manifest.metrics["test"]
    for name, score in run.evaluation.scores.items():
        assert score.roc_auc == pytest.approx(recorded[name].roc_auc)
        assert score.review.recall == pytest.approx(recorded[name].review_recall)
        expected = at_threshold(
            run.labels, run.scores.by_name(name), score.block.threshold, days=run.evaluation.days
        )
        assert score.block == expected
        assert score.review.alert_rate == pytest.approx(recorded[name].review_alert_rate)


def test_all_scope_scores_every_row(data: Labelled, model: LoadedModel) -> None:
    """Scope all evaluates the whole file, with per-scenario recall for each fraud scenario."""
    run = evaluate(model, data.dataset, scope=Scope.ALL, k=10, features=data.features)
    assert run.evaluation.data.rows == len(data.dataset)
    assert run.evaluation.k == 10
    ensemble = run.evaluation.scores["ensemble"]
    assert set(ensemble.scenario_recall) == {"card_testing", "account_takeover"}
    assert sum(r.frauds for r in ensemble.scenario_recall.values()) == int(
        data.dataset["label"].sum()
    )
    assert ensemble.card_precision_at_k is not None


def test_data_before_the_test_start_cannot_be_test_scoped(
    data: Labelled, model: LoadedModel
) -> None:
    """Old data has no test rows; the error suggests evaluating all rows."""
    early = np.asarray(data.dataset["timestamp"] < model.manifest.split.gap_start)
    with pytest.raises(InvalidInputError, match="evaluate all rows instead"):
        evaluate(model, data.dataset[early], features=data.features[early])


def test_write_evaluation_writes_metrics_report_and_figures(
    data: Labelled, model: LoadedModel, tmp_path: Path
) -> None:
    """metrics.json decodes back to the evaluation; report.md links four PNG figures."""
    run = evaluate(model, data.dataset, features=data.features)
    written = write_evaluation(run, model, tmp_path)
    names = sorted(p.name for p in written)
    assert names == sorted(
        [
            METRICS_FILE,
            "report.md",
            "roc_curve.png",
            "pr_curve.png",
            "score_distributions.png",
            "feature_importance.png",
        ]
    )
    decoded = msgspec.json.decode((tmp_path / METRICS_FILE).read_bytes(), type=Evaluation)
    assert decoded == run.evaluation
    report = (tmp_path / "report.md").read_text()
    assert model.version in report
    assert "![roc_curve.png](roc_curve.png)" in report
    assert (tmp_path / "pr_curve.png").read_bytes().startswith(b"\x89PNG")


def test_cli_trains_then_evaluates_a_generated_dataset(tmp_path: Path) -> None:
    """`vigil train` writes an artifact with a report; `vigil evaluate --on all` re-measures it."""
    data_file = tmp_path / "data.parquet"
    write_dataset(generate_dataset(accounts=150, days=45, seed=3, fraud_rate=0.03), data_file)
    spec = tmp_path / "features.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "model"
    runner = CliRunner()
    trained = runner.invoke(
        app,
        [
            "train", "--data", str(data_file), "--out", str(out), "--features", str(spec),
            "--trees", "20", "--forest-trees", "20", "--threads", "1", "--gap-days", "3",
        ],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "trained xgb-if-" in trained.output
    assert (out / "report.md").is_file()
    evaluated = runner.invoke(
        app,
        [
            "evaluate", "--model", str(out), "--data", str(data_file), "--features", str(spec),
            "--on", "all", "--out", str(tmp_path / "all"),
        ],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert "on all rows" in evaluated.output
    assert (tmp_path / "all" / METRICS_FILE).is_file()


def test_cli_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    """Training into a non-empty directory without --force fails with a clear message."""
    data_file = tmp_path / "data.parquet"
    write_dataset(generate_dataset(accounts=50, days=20, seed=1, fraud_rate=0.05), data_file)
    spec = tmp_path / "features.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = CliRunner().invoke(
        app,
        ["train", "--data", str(data_file), "--out", str(out), "--features", str(spec),
         "--trees", "5", "--forest-trees", "5", "--gap-days", "1"],
    )  # fmt: skip
    assert isinstance(result.exception, InvalidInputError)
    assert "already exists" in str(result.exception)
