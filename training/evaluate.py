"""Evaluate an artifact on labelled data: metrics for XGBoost, the forest and the ensemble.

Which rows are scored is explicit (:class:`Scope`): ``test`` keeps the rows at or after the
manifest's ``split.test_start`` (and before its ``test_end`` when the model was trained on date
windows): the held-out test block when the file is the training file, the whole file when it is
newer data; ``window`` keeps the rows in an explicit ``[start, end)`` range, which must not
overlap the model's train block; ``all`` scores every row. Features are always computed over the
whole file, so the first test rows see their full history.

Every score is judged at the thresholds the manifest suggests for it, including the alert rate
and alerts per day (flagged rows over the evaluated period's length in days). Results go to
``metrics.json`` (the :class:`~training.evaluation_types.Evaluation` struct) and to ``report.md``
with its PNG figures (:mod:`training.report`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from artifacts.manifest import MODEL_NAMES, Thresholds
from artifacts.runtime import LoadedModel, ScoreBatch
from core.errors import InvalidInputError, Problem
from features.offline import compute_features
from features.spec import FeatureSet
from training.evaluation_types import (
    METRICS_FILE,
    Evaluation,
    EvaluationRun,
    Scope,
    ScoreEvaluation,
)
from training.metrics import (
    at_threshold,
    card_precision_at_k,
    ranking_metrics,
    scenario_recall,
)
from training.split import SCENARIO, TIMESTAMP, rows_from, summarize, to_datetime, utc_times
from training.train import checked_labels, feature_matrix

DEFAULT_K = 100


def evaluate(
    model: LoadedModel,
    dataset: pd.DataFrame,
    *,
    scope: Scope = Scope.TEST,
    window: tuple[datetime, datetime] | None = None,
    k: int = DEFAULT_K,
    features: pd.DataFrame | None = None,
    feature_set: FeatureSet | None = None,
) -> EvaluationRun:
    """Score ``dataset``'s rows in ``scope`` with ``model`` and measure every score.

    ``window`` (``[start, end)``) goes with :attr:`Scope.WINDOW` and only with it. ``features``
    may carry precomputed features of the whole ``dataset``; otherwise they are computed with
    ``feature_set``.
    """
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    if (scope is Scope.WINDOW) != (window is not None):
        raise InvalidInputError("a test window goes with scope 'window', and only with it")
    if window is not None:
        check_window_after_training(model, window)
    labels = checked_labels(dataset)
    if features is None:
        if feature_set is None:
            raise TypeError("evaluate needs features or a FeatureSet to compute them")
        features = compute_features(dataset, feature_set)
    matrix = feature_matrix(features, model.feature_names, dataset.index)
    selected, start, end = _selection(model, dataset, scope, window)
    block = dataset.loc[selected]
    rows = matrix[selected]
    scores = model.score(rows)
    times = utc_times(block[TIMESTAMP])
    if start is None:
        start = to_datetime(times.min())
    if end is None:
        end = to_datetime(times.max())
    period_days = (end - start) / timedelta(days=1)
    evaluation = Evaluation(
        model_version=model.version,
        scope=scope,
        k=k,
        data=summarize(dataset, selected),
        scores=evaluate_scores(
            labels=labels[selected],
            scenarios=block[SCENARIO].to_numpy(dtype=object),
            days=times.astype("datetime64[D]"),
            accounts=block["account_id"].to_numpy(dtype=object),
            scores=scores,
            thresholds=model.manifest.thresholds,
            k=k,
            period_days=period_days if period_days > 0.0 else None,
        ),
        start=start,
        end=end,
        days=period_days if period_days > 0.0 else None,
    )
    return EvaluationRun(
        evaluation=evaluation,
        labels=labels[selected],
        scores=scores,
        rows=rows,
        transactions=block,
    )


def check_window_after_training(model: LoadedModel, window: tuple[datetime, datetime]) -> None:
    """Refuse a test window that overlaps the rows the model was trained on (a leak)."""
    split = model.manifest.split
    train_begin = split.train_start or split.fit.start
    train_end = split.gap_start
    start, end = window
    if start < train_end and (train_begin is None or end > train_begin):
        raise InvalidInputError(
            "the test window overlaps the model's train block",
            [
                Problem(
                    "--test-start",
                    f"{start.isoformat()} is before the end of the model's train block "
                    f"{train_end.isoformat()}: those rows were trained on; start the test window "
                    "at or after it (or score every row with --on all)",
                )
            ],
        )


def _selection(
    model: LoadedModel,
    dataset: pd.DataFrame,
    scope: Scope,
    window: tuple[datetime, datetime] | None,
) -> tuple[NDArray[np.bool_], datetime | None, datetime | None]:
    """The rows to evaluate and the period they stand for (``None``: their first/last row)."""
    split = model.manifest.split
    timestamps = dataset[TIMESTAMP]
    if scope is Scope.ALL:
        return np.ones(len(dataset), dtype=np.bool_), None, None
    if window is not None:
        selected = rows_from(timestamps, *window)
        if not selected.any():
            raise InvalidInputError(
                "the test window holds no rows",
                [
                    Problem(
                        "--test-start/--test-end",
                        f"no rows in [{window[0].isoformat()}, {window[1].isoformat()})",
                    )
                ],
            )
        return selected, window[0], window[1]
    selected = rows_from(timestamps, split.test_start, split.test_end)
    if not selected.any():
        before = "" if split.test_end is None else f" and before {split.test_end.isoformat()}"
        raise InvalidInputError(
            f"no rows at or after the model's test start "
            f"{split.test_start.isoformat()}{before}; evaluate all rows instead (--on all) or "
            "a window (--test-start/--test-end)"
        )
    if split.test_end is None:
        return selected, None, None  # the test block runs from its first row to the last
    return selected, split.test_start, split.test_end


def evaluate_scores(
    *,
    labels: NDArray[np.int8],
    scenarios: NDArray[np.object_],
    days: NDArray[np.datetime64],
    accounts: NDArray[np.object_],
    scores: ScoreBatch,
    thresholds: dict[str, Thresholds],
    k: int,
    period_days: float | None = None,
) -> dict[str, ScoreEvaluation]:
    """Every metric of every score (pure; the arrays are aligned row by row).

    ``period_days`` is the length of the period the rows cover (for alerts per day).
    """
    result = {}
    for name in MODEL_NAMES:
        values = scores.by_name(name)
        roc_auc, average_precision = ranking_metrics(labels, values)
        review, block = thresholds[name].review, thresholds[name].block
        result[name] = ScoreEvaluation(
            roc_auc=roc_auc,
            average_precision=average_precision,
            card_precision_at_k=card_precision_at_k(days, accounts, labels, values, k),
            review=at_threshold(labels, values, review, days=period_days),
            block=at_threshold(labels, values, block, days=period_days),
            scenario_recall=scenario_recall(scenarios, labels, values, review, block),
        )
    return result


def write_evaluation(run: EvaluationRun, model: LoadedModel, directory: Path) -> list[Path]:
    """Write ``metrics.json``, ``report.md`` and the figures into ``directory``; return them."""
    from training.report import write_report  # noqa: PLC0415 - matplotlib only when reporting

    directory.mkdir(parents=True, exist_ok=True)
    metrics_path = directory / METRICS_FILE
    metrics_path.write_bytes(
        msgspec.json.format(msgspec.json.encode(run.evaluation), indent=2) + b"\n"
    )
    return [metrics_path, *write_report(run, model, directory)]
