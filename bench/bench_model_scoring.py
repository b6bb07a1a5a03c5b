"""Benchmark: scoring one row and 64 rows with the model runtime.

Run with ``uv run python bench/bench_model_scoring.py [--model DIR] [--calls 500]``.

Without ``--model`` a model of production shape is trained on synthetic rows first (39 features,
XGBoost 300 trees of depth 6, Isolation Forest 200 trees of 256 samples). With ``--model`` the
XGBoost and forest of that artifact are used, and an sklearn IsolationForest of the same shape is
fitted on synthetic rows for the comparison. Prints p50/p95/p99 latency per call and rows per
second for:

* ``sklearn IF score_samples`` vs ``numpy IF``: the forest, scikit-learn vs the exported arrays;
* ``xgboost inplace_predict``: the booster's margin, one thread;
* ``xgboost pred_contribs exact`` / ``approx``: TreeSHAP vs Saabas contributions (incl. DMatrix);
* ``LoadedModel.score``: both models and the ensemble, as the engine calls it;
* ``LoadedModel.model_scores top5``: the score plus the top-5 approximate contributions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.ensemble import IsolationForest

from artifacts.isolation_forest import CompiledForest, export_isolation_forest
from artifacts.manifest import (
    FORMAT_VERSION,
    DataSummary,
    EnsembleSpec,
    IsolationForestInfo,
    Manifest,
    SplitSummary,
    Thresholds,
    XGBoostInfo,
)
from artifacts.runtime import LoadedModel
from artifacts.store import load_artifact, write_artifact

_FEATURES = 39
_TRAIN_ROWS = 100_000


def synthetic(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a fraud signal on a few features and ~5% missing values."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.01).astype(np.int8)
    matrix = rng.lognormal(0.0, 1.0, size=(rows, _FEATURES))
    matrix[labels == 1, :5] *= 3.0
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    return matrix, labels


def synthetic_model(directory: Path) -> LoadedModel:
    """Train a production-shaped model on synthetic rows and write it to ``directory``."""
    matrix, labels = synthetic(_TRAIN_ROWS, seed=1)
    names = [f"feature_{i}" for i in range(_FEATURES)]
    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6, "nthread": 2},
        xgb.QuantileDMatrix(matrix, labels, feature_names=names),
        num_boost_round=300,
    )
    forest = IsolationForest(n_estimators=200, max_samples=256, random_state=0).fit(matrix)
    when = datetime.now(UTC)
    summary = DataSummary(
        rows=_TRAIN_ROWS, frauds=int(labels.sum()), start=when, end=when, scenarios={}
    )
    thresholds = Thresholds(review=0.5, block=0.9, review_policy="", block_policy="")
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        version="",
        created_at=when,
        feature_names=names,
        feature_spec_version="bench",
        seed=0,
        data=summary,
        split=SplitSummary(
            gap_days=0,
            test_fraction=0,
            validation_fraction=0,
            test_start=when,
            gap_start=when,
            fit=summary,
            validation=summary,
            gap=summary,
            test=summary,
        ),
        xgboost=XGBoostInfo(
            params={},
            effective_config={},
            base_score=0.5,
            num_boost_round=300,
            early_stopping_rounds=0,
            best_iteration=299,
            n_trees=300,
        ),
        isolation_forest=IsolationForestInfo(
            n_estimators=200,
            max_samples=256,
            max_features=1.0,
            max_depth=8,
            random_state=0,
            trained_on="all",
            training_rows=_TRAIN_ROWS,
        ),
        ensemble=EnsembleSpec(
            method="logistic_stack",
            intercept=-3.0,
            xgboost_weight=0.8,
            isolation_forest_weight=4.0,
            fitted_rows=0,
            fitted_frauds=0,
        ),
        thresholds=dict.fromkeys(("xgboost", "isolation_forest", "ensemble"), thresholds),
        metrics={},
        libraries={},
        files={},
    )
    write_artifact(
        directory, manifest, bytes(booster.save_raw("ubj")), export_isolation_forest(forest)
    )
    return load_artifact(directory)


def measure(name: str, call: Callable[[np.ndarray], object], batch: np.ndarray, calls: int) -> None:
    """Print p50/p95/p99 latency of ``call(batch)`` and the rows it scores per second."""
    rows = len(batch)
    for _ in range(min(20, calls)):
        call(batch)
    latencies = np.empty(calls)
    for i in range(calls):
        started = time.perf_counter()
        call(batch)
        latencies[i] = time.perf_counter() - started
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) * 1e6
    throughput = rows * calls / latencies.sum()
    print(
        f"{name:<38} {rows:>3} rows  p50 {p50:9.1f} µs  p95 {p95:9.1f} µs  p99 {p99:9.1f} µs"
        f"  {throughput:12,.0f} rows/s"
    )


def main() -> None:
    """Time every scoring path on 1 and 64 rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="artifact directory")
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        model = load_artifact(args.model) if args.model else synthetic_model(Path(scratch) / "m")
    width = len(model.feature_names)
    matrix, _ = synthetic(5_000, seed=2)
    matrix = np.ascontiguousarray(np.resize(matrix, (5_000, width)))
    sklearn_forest = IsolationForest(n_estimators=200, max_samples=256, random_state=0).fit(
        synthetic(_TRAIN_ROWS, seed=1)[0][:, :width] if width <= _FEATURES else matrix
    )
    numpy_forest = CompiledForest(export_isolation_forest(sklearn_forest))
    booster = model.booster
    print(
        f"model {model.version}: {booster.num_boosted_rounds()} XGBoost trees, "
        f"{width} features; {args.calls} calls per line"
    )
    names = list(model.feature_names)

    def contributions(batch: np.ndarray, *, exact: bool) -> object:
        data = xgb.DMatrix(batch, feature_names=names)
        return booster.predict(data, pred_contribs=True, approx_contribs=not exact)

    paths: list[tuple[str, Callable[[np.ndarray], object], int]] = [
        ("sklearn IF score_samples", sklearn_forest.score_samples, min(args.calls, 200)),
        ("numpy IF (same forest)", numpy_forest.anomaly_score, args.calls),
        ("xgboost inplace_predict", booster.inplace_predict, args.calls),
        ("xgboost pred_contribs exact", partial(contributions, exact=True), min(args.calls, 100)),
        ("xgboost pred_contribs approx", partial(contributions, exact=False), args.calls),
        ("LoadedModel.score", model.score, args.calls),
        ("LoadedModel.model_scores top5", partial(model.model_scores, top_k=5), args.calls),
    ]
    for rows in (1, 64):
        batch = matrix[:rows].copy()
        for name, call, calls in paths:
            measure(name, call, batch, calls)


if __name__ == "__main__":
    main()
