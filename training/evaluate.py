"""Evaluate an artifact on labelled data: metrics for XGBoost, the forest and the ensemble.

Which rows are scored is explicit (:class:`Scope`): ``test`` keeps the rows at or after the
manifest's ``split.test_start`` (the held-out test block when the file is the training file; the
whole file when it is newer data), ``all`` scores every row. Features are always computed over the
whole file, so the first test rows see their full history.

Every score is judged at the thresholds the manifest suggests for it. Results go to
``metrics.json`` (the :class:`Evaluation` struct) and to ``report.md`` with its PNG figures
(:mod:`training.report`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from artifacts.manifest import MODEL_NAMES, DataSummary, Thresholds
from artifacts.runtime import LoadedModel, ScoreBatch
from core.errors import InvalidInputError
from features.offline import compute_features
from features.spec import FeatureSet
from training.metrics import (
    ScenarioRecall,
    ThresholdMetrics,
    at_threshold,
    card_precision_at_k,
    ranking_metrics,
    scenario_recall,
)
from training.split import SCENARIO, TIMESTAMP, rows_from, summarize, utc_times
from training.train import checked_labels, feature_matrix

METRICS_FILE = "metrics.json"
DEFAULT_K = 100


class Scope(enum.StrEnum):
    """Which rows of the given data are evaluated."""

    TEST = "test"
    ALL = "all"


class ScoreEvaluation(msgspec.Struct, frozen=True, kw_only=True):
    """How well one score separates fraud on the evaluated rows."""

    roc_auc: float | None
    average_precision: float | None
    card_precision_at_k: float | None
    review: ThresholdMetrics
    block: ThresholdMetrics
    scenario_recall: dict[str, ScenarioRecall]


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """The content of ``metrics.json``."""

    model_version: str
    scope: Scope
    k: int
    data: DataSummary
    scores: dict[str, ScoreEvaluation]


@dataclass(frozen=True, slots=True, eq=False)
class EvaluationRun:
    """An evaluation with the arrays the report plots."""

    evaluation: Evaluation
    labels: NDArray[np.int8]
    scores: ScoreBatch
    rows: NDArray[np.float64]
    """The evaluated feature rows (for feature importances)."""


def evaluate(
    model: LoadedModel,
    dataset: pd.DataFrame,
    *,
    scope: Scope = Scope.TEST,
    k: int = DEFAULT_K,
    features: pd.DataFrame | None = None,
    feature_set: FeatureSet | None = None,
) -> EvaluationRun:
    """Score ``dataset``'s rows in ``scope`` with ``model`` and measure every score.

    ``features`` may carry precomputed features of the whole ``dataset``; otherwise they are
    computed with ``feature_set``.
    """
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    labels = checked_labels(dataset)
    if features is None:
        if feature_set is None:
            raise TypeError("evaluate needs features or a FeatureSet to compute them")
        features = compute_features(dataset, feature_set)
    matrix = feature_matrix(features, model.feature_names, dataset.index)
    selected = (
        np.ones(len(dataset), dtype=np.bool_)
        if scope is Scope.ALL
        else rows_from(dataset[TIMESTAMP], model.manifest.split.test_start)
    )
    if not selected.any():
        raise InvalidInputError(
            f"no rows at or after the model's test start "
            f"{model.manifest.split.test_start.isoformat()}; evaluate all rows instead (--on all)"
        )
    block = dataset.loc[selected]
    rows = matrix[selected]
    scores = model.score(rows)
    days = utc_times(block[TIMESTAMP]).astype("datetime64[D]")
    evaluation = Evaluation(
        model_version=model.version,
        scope=scope,
        k=k,
        data=summarize(dataset, selected),
        scores=evaluate_scores(
            labels=labels[selected],
            scenarios=block[SCENARIO].to_numpy(dtype=object),
            days=days,
            accounts=block["account_id"].to_numpy(dtype=object),
            scores=scores,
            thresholds=model.manifest.thresholds,
            k=k,
        ),
    )
    return EvaluationRun(evaluation=evaluation, labels=labels[selected], scores=scores, rows=rows)


def evaluate_scores(
    *,
    labels: NDArray[np.int8],
    scenarios: NDArray[np.object_],
    days: NDArray[np.datetime64],
    accounts: NDArray[np.object_],
    scores: ScoreBatch,
    thresholds: dict[str, Thresholds],
    k: int,
) -> dict[str, ScoreEvaluation]:
    """Every metric of every score (pure; the arrays are aligned row by row)."""
    result = {}
    for name in MODEL_NAMES:
        values = scores.by_name(name)
        roc_auc, average_precision = ranking_metrics(labels, values)
        review, block = thresholds[name].review, thresholds[name].block
        result[name] = ScoreEvaluation(
            roc_auc=roc_auc,
            average_precision=average_precision,
            card_precision_at_k=card_precision_at_k(days, accounts, labels, values, k),
            review=at_threshold(labels, values, review),
            block=at_threshold(labels, values, block),
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
