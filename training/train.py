"""Train the XGBoost + Isolation Forest artifact from a labelled dataset.

Steps: compute the features with the offline implementation of the feature specs; cut the rows in
time, by fractions (:mod:`training.split`) or by explicit dates (:mod:`training.windows`), keeping
only the train rows whose label was known by the end of the train block (:mod:`training.labels`);
fit XGBoost on the fit block with early stopping on the validation
tail and the Isolation Forest (:mod:`training.estimators`); fit the ensemble and choose the
thresholds on the validation tail (:mod:`training.calibration`); measure validation and test
metrics with the same runtime that serves the model (:class:`artifacts.LoadedModel`); write the
artifact (:func:`artifacts.write_artifact`).

Choices:

* **Isolation Forest**: fitted on the **legitimate rows of the fit block**. Its job is to notice
  what does not look like normal behaviour, including fraud patterns no label has shown yet;
  keeping the known frauds out stops it from learning them as "normal" (with 256-row subsamples
  and ~1% fraud the difference is small, but it is free). The ensemble learns its weight.
* **Determinism**: XGBoost, scikit-learn and the ensemble fit are seeded or deterministic, and the
  artifact contains no timestamps except ``created_at`` (from the injected clock), so the same
  data, seed and thread count give byte-identical model files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import xgboost as xgb
from numpy.typing import NDArray

from artifacts.ensemble import IDENTITY
from artifacts.isolation_forest import CompiledForest, ForestArrays
from artifacts.manifest import (
    FORMAT_VERSION,
    MODEL_NAMES,
    Manifest,
    ModelMetrics,
    SplitSummary,
    ThresholdPolicyInfo,
    Thresholds,
)
from artifacts.runtime import LoadedModel, ScoreBatch
from artifacts.store import write_artifact
from core.clock import Clock, SystemClock
from core.errors import InvalidInputError, Problem
from features.offline import compute_features
from features.spec import FeatureSet
from training.calibration import AlertVolume, ThresholdPolicy, fit_ensemble, suggest_thresholds
from training.estimators import ModelParams, fit_isolation_forest, fit_xgboost, library_versions
from training.labels import label_known_times
from training.metrics import at_threshold, ranking_metrics
from training.split import (
    LABEL,
    SCENARIO,
    TIMESTAMP,
    TimeSplit,
    summarize,
    time_split,
    to_datetime,
    utc_times,
)
from training.windows import TimeWindows, window_split

__all__ = [
    "ModelParams",
    "TimeWindows",
    "TrainingRun",
    "calibrate",
    "checked_labels",
    "feature_matrix",
    "fit",
    "summary_metrics",
    "train",
]

FloatArray = NDArray[np.float64]
LabelArray = NDArray[np.int8]
_PLACEHOLDER = Thresholds(review=1.0, block=1.0, review_policy="", block_policy="")


@dataclass(frozen=True, slots=True, eq=False)
class TrainingRun:
    """A trained model before it is written: the manifest (without files and version yet),
    the model payloads, the features and split it was trained with, and how long each step took.
    """

    manifest: Manifest
    xgboost_model: bytes
    forest: ForestArrays
    features: pd.DataFrame
    split: TimeSplit
    timings: dict[str, float]


def train(
    dataset: pd.DataFrame,
    feature_set: FeatureSet,
    out_dir: Path,
    *,
    seed: int = 0,
    gap_days: float = 7.0,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.15,
    windows: TimeWindows | None = None,
    label_delay: timedelta = timedelta(0),
    params: ModelParams | None = None,
    features: pd.DataFrame | None = None,
    clock: Clock | None = None,
    overwrite: bool = False,
) -> Path:
    """Train on ``dataset`` and write the artifact to ``out_dir``; return ``out_dir``.

    ``features`` may carry precomputed ``compute_features(dataset, feature_set)``.
    """
    run = fit(
        dataset,
        feature_set,
        seed=seed,
        gap_days=gap_days,
        test_fraction=test_fraction,
        validation_fraction=validation_fraction,
        windows=windows,
        label_delay=label_delay,
        params=params,
        features=features,
        clock=clock,
    )
    write_artifact(out_dir, run.manifest, run.xgboost_model, run.forest, overwrite=overwrite)
    return out_dir


def fit(
    dataset: pd.DataFrame,
    feature_set: FeatureSet,
    *,
    seed: int = 0,
    gap_days: float = 7.0,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.15,
    windows: TimeWindows | None = None,
    label_delay: timedelta = timedelta(0),
    params: ModelParams | None = None,
    features: pd.DataFrame | None = None,
    clock: Clock | None = None,
) -> TrainingRun:
    """Everything :func:`train` does except writing the artifact.

    With ``windows`` the blocks are those dates (``gap_days`` and ``test_fraction`` are then
    not used); otherwise the test block is the latest ``test_fraction`` of rows after a
    ``gap_days`` gap. Either way a train row is trained on only when its label was known by the
    end of the train block: its ``label_known_at``, else its event time + ``label_delay``.
    """
    params = params or ModelParams()
    clock = clock or SystemClock()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    labels = checked_labels(dataset)
    if features is None:
        features = compute_features(dataset, feature_set)
    matrix = feature_matrix(features, feature_set.names, dataset.index)
    timings["features"] = _lap(started)
    known_at = label_known_times(dataset, label_delay)
    split = (
        time_split(
            dataset[TIMESTAMP],
            test_fraction=test_fraction,
            gap_days=gap_days,
            validation_fraction=validation_fraction,
            known_at=known_at,
        )
        if windows is None
        else window_split(
            dataset[TIMESTAMP],
            windows,
            validation_fraction=validation_fraction,
            known_at=known_at,
        )
    )
    _require_both_classes(labels, split)

    started = time.perf_counter()
    booster, xgb_info = fit_xgboost(
        matrix, labels, split, params=params, seed=seed, names=feature_set.names
    )
    timings["xgboost"] = _lap(started)
    started = time.perf_counter()
    forest, forest_info = fit_isolation_forest(matrix[split.fit & (labels == 0)], params, seed)
    timings["isolation_forest"] = _lap(started)

    started = time.perf_counter()
    created_at = clock.now()
    draft = Manifest(
        format_version=FORMAT_VERSION,
        version="",
        created_at=created_at,
        feature_names=list(feature_set.names),
        feature_spec_version=feature_set.version,
        fx_version=feature_set.fx_version,
        seed=seed,
        data=summarize(dataset),
        split=split_summary(
            dataset,
            split,
            windows=windows,
            gap_days=gap_days,
            test_fraction=test_fraction,
            validation_fraction=validation_fraction,
            label_delay=label_delay,
        ),
        xgboost=xgb_info,
        isolation_forest=forest_info,
        ensemble=IDENTITY,
        thresholds=dict.fromkeys(MODEL_NAMES, _PLACEHOLDER),
        metrics={},
        libraries=library_versions(),
        files={},
    )
    manifest = calibrate(
        draft,
        booster,
        CompiledForest(forest),
        matrix=matrix,
        labels=labels,
        split=split,
        params=params,
        times=utc_times(dataset[TIMESTAMP]),
    )
    timings["calibration_and_metrics"] = _lap(started)
    return TrainingRun(
        manifest=manifest,
        xgboost_model=bytes(booster.save_raw("ubj")),
        forest=forest,
        features=features,
        split=split,
        timings=timings,
    )


def split_summary(
    dataset: pd.DataFrame,
    split: TimeSplit,
    *,
    windows: TimeWindows | None,
    gap_days: float,
    test_fraction: float,
    validation_fraction: float,
    label_delay: timedelta,
) -> SplitSummary:
    """The manifest's record of how ``split`` cut ``dataset``."""
    test = summarize(dataset, split.test)
    return SplitSummary(
        gap_days=gap_days if windows is None else windows.gap_days,
        test_fraction=test_fraction if windows is None else test.rows / max(len(dataset), 1),
        validation_fraction=validation_fraction,
        test_start=split.test_start,
        gap_start=split.gap_start,
        fit=summarize(dataset, split.fit),
        validation=summarize(dataset, split.validation),
        gap=summarize(dataset, split.gap),
        test=test,
        mode="fractions" if windows is None else "windows",
        train_start=split.train_start,
        test_end=split.test_end,
        label_delay_days=label_delay / timedelta(days=1),
        labels_known_by=split.gap_start,
        unlabelled=summarize(dataset, split.unlabelled),
        outside=summarize(dataset, split.outside),
    )


def calibrate(
    draft: Manifest,
    booster: xgb.Booster,
    forest: CompiledForest,
    *,
    matrix: FloatArray,
    labels: LabelArray,
    split: TimeSplit,
    params: ModelParams,
    times: NDArray[np.datetime64] | None = None,
) -> Manifest:
    """``draft`` with the ensemble and thresholds fitted on validation, and both blocks' metrics.

    Scores come from :class:`LoadedModel`, the runtime that will serve the artifact. Expected
    alert volumes are measured on every row of the validation period; ``times`` (the rows' naive
    UTC event times) give the test block's length when it has no explicit end.
    """
    validation_rows, y_validation = matrix[split.validation], labels[split.validation]
    draft_model = LoadedModel(draft, booster, forest, n_threads=params.n_threads)
    parts = draft_model.score(validation_rows)
    ensemble = fit_ensemble(parts.xgboost_margin, parts.isolation_forest, y_validation)
    model = LoadedModel(
        msgspec.structs.replace(draft, ensemble=ensemble),
        booster,
        forest,
        n_threads=params.n_threads,
    )
    validation = model.score(validation_rows)
    period = model.score(matrix[split.validation_period])
    traffic = split.train_rows_per_day
    thresholds = {
        name: suggest_thresholds(
            y_validation,
            validation.by_name(name),
            params.thresholds,
            AlertVolume(period.by_name(name), traffic),
        )
        for name in MODEL_NAMES
    }
    metrics = {
        "validation": summary_metrics(
            y_validation, validation, thresholds, volume=period, rows_per_day=traffic
        ),
        "test": summary_metrics(
            labels[split.test],
            model.score(matrix[split.test]),
            thresholds,
            days=_test_days(split, times),
        ),
    }
    return msgspec.structs.replace(
        model.manifest,
        thresholds=thresholds,
        metrics=metrics,
        threshold_policy=policy_info(params.thresholds, rows=len(period), rows_per_day=traffic),
    )


def policy_info(policy: ThresholdPolicy, *, rows: int, rows_per_day: float) -> ThresholdPolicyInfo:
    """The manifest's record of ``policy`` and of the alert volume it was applied to."""
    return ThresholdPolicyInfo(
        review=policy.review_method,
        review_recall=policy.review_recall if policy.reviews_per_day is None else None,
        reviews_per_day=policy.reviews_per_day,
        block_precision=policy.block_precision,
        min_block_support=policy.min_block_support,
        volume_rows=rows,
        rows_per_day=rows_per_day,
    )


def _test_days(split: TimeSplit, times: NDArray[np.datetime64] | None) -> float | None:
    """The test block's length in days: to its end when explicit, else to its last row."""
    if split.test_end is not None:
        return (split.test_end - split.test_start) / timedelta(days=1)
    if times is None or not split.test.any():
        return None
    days = (to_datetime(times[split.test].max()) - split.test_start) / timedelta(days=1)
    return days if days > 0.0 else None


def checked_labels(dataset: pd.DataFrame) -> LabelArray:
    """The 0/1 labels; :class:`InvalidInputError` when columns are missing or labels are bad."""
    absent = [c for c in (TIMESTAMP, LABEL, SCENARIO, "account_id") if c not in dataset.columns]
    if absent:
        raise InvalidInputError(
            "the dataset cannot be used for training",
            [Problem(f"column {c}", "is required for training") for c in absent],
        )
    raw = dataset[LABEL]
    bad = raw.isna().to_numpy() | ~raw.isin([0, 1]).to_numpy()
    if bad.any():
        rows = dataset.index[bad][:5]
        raise InvalidInputError(
            "labels must be 0 (legitimate) or 1 (fraud) on every row",
            [Problem(f"row {row}, column {LABEL}", f"got {raw.loc[row]!r}") for row in rows],
        )
    return raw.to_numpy(dtype=np.int8)


def feature_matrix(features: pd.DataFrame, names: tuple[str, ...], index: pd.Index) -> FloatArray:
    """The features as a C-ordered float64 matrix in model order, checked against the dataset."""
    if list(features.columns) != list(names):
        raise InvalidInputError(
            "the feature frame's columns are not the feature set's names in order",
            [Problem("features", f"expected {list(names)}, got {list(features.columns)}")],
        )
    if not features.index.equals(index):
        raise InvalidInputError("the feature frame's rows do not match the dataset's rows")
    return np.ascontiguousarray(features.to_numpy(dtype=np.float64))


def summary_metrics(
    labels: LabelArray,
    scores: ScoreBatch,
    thresholds: dict[str, Thresholds],
    *,
    volume: ScoreBatch | None = None,
    days: float | None = None,
    rows_per_day: float | None = None,
) -> dict[str, ModelMetrics]:
    """Ranking and threshold metrics of every score, for the manifest.

    Alert rates count the rows of ``volume`` (default: the scored rows) at or above each
    threshold. Alerts per day are that count over ``days`` (the length of the period the rows
    cover), or the alert rate times ``rows_per_day`` (an expected traffic).
    """
    result = {}
    for name in MODEL_NAMES:
        values = scores.by_name(name)
        counted = values if volume is None else volume.by_name(name)
        roc_auc, average_precision = ranking_metrics(labels, values)
        review = at_threshold(labels, values, thresholds[name].review)
        block = at_threshold(labels, values, thresholds[name].block)
        review_rate, review_per_day = _alerts(counted, thresholds[name].review, days, rows_per_day)
        block_rate, block_per_day = _alerts(counted, thresholds[name].block, days, rows_per_day)
        result[name] = ModelMetrics(
            rows=len(labels),
            frauds=int(labels.sum()),
            roc_auc=roc_auc,
            average_precision=average_precision,
            review_precision=review.precision,
            review_recall=review.recall,
            block_precision=block.precision,
            block_recall=block.recall,
            review_alert_rate=review_rate,
            block_alert_rate=block_rate,
            review_alerts_per_day=review_per_day,
            block_alerts_per_day=block_per_day,
        )
    return result


def _alerts(
    scores: FloatArray, threshold: float, days: float | None, rows_per_day: float | None
) -> tuple[float | None, float | None]:
    """Share of ``scores`` at or above ``threshold``, and alerts per day (see summary_metrics)."""
    if scores.size == 0:
        return None, None
    flagged = int(np.count_nonzero(scores >= threshold))
    rate = flagged / scores.size
    if rows_per_day is not None:
        return rate, rate * rows_per_day
    return rate, (flagged / days if days else None)


def _require_both_classes(labels: LabelArray, split: TimeSplit) -> None:
    problems = []
    for block, mask in (("fit", split.fit), ("validation", split.validation)):
        frauds = int(labels[mask].sum())
        if frauds == 0 or frauds == int(mask.sum()):
            problems.append(
                Problem(
                    f"{block} block",
                    f"has {int(mask.sum())} rows of which {frauds} fraud; it needs both classes",
                )
            )
    if problems:
        raise InvalidInputError(
            "the time split leaves a block without frauds or without legitimate rows; "
            "use more data or change the fractions or the train window",
            problems,
        )


def _lap(started: float) -> float:
    return round(time.perf_counter() - started, 3)
