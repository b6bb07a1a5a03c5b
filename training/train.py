"""Train the XGBoost + Isolation Forest artifact from a labelled dataset.

Steps: compute the features with the offline implementation of the feature specs; cut the rows in
time (:mod:`training.split`); fit XGBoost on the fit block with early stopping on the validation
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
    Thresholds,
)
from artifacts.runtime import LoadedModel, ScoreBatch
from artifacts.store import write_artifact
from core.clock import Clock, SystemClock
from core.errors import InvalidInputError, Problem
from features.offline import compute_features
from features.spec import FeatureSet
from training.calibration import fit_ensemble, suggest_thresholds
from training.estimators import ModelParams, fit_isolation_forest, fit_xgboost, library_versions
from training.metrics import at_threshold, ranking_metrics
from training.split import LABEL, SCENARIO, TIMESTAMP, TimeSplit, summarize, time_split

__all__ = [
    "ModelParams",
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
    params: ModelParams | None = None,
    features: pd.DataFrame | None = None,
    clock: Clock | None = None,
) -> TrainingRun:
    """Everything :func:`train` does except writing the artifact."""
    params = params or ModelParams()
    clock = clock or SystemClock()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    labels = checked_labels(dataset)
    if features is None:
        features = compute_features(dataset, feature_set)
    matrix = feature_matrix(features, feature_set.names, dataset.index)
    timings["features"] = _lap(started)
    split = time_split(
        dataset[TIMESTAMP],
        test_fraction=test_fraction,
        gap_days=gap_days,
        validation_fraction=validation_fraction,
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
        seed=seed,
        data=summarize(dataset),
        split=SplitSummary(
            gap_days=gap_days,
            test_fraction=test_fraction,
            validation_fraction=validation_fraction,
            test_start=split.test_start,
            gap_start=split.gap_start,
            fit=summarize(dataset, split.fit),
            validation=summarize(dataset, split.validation),
            gap=summarize(dataset, split.gap),
            test=summarize(dataset, split.test),
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


def calibrate(
    draft: Manifest,
    booster: xgb.Booster,
    forest: CompiledForest,
    *,
    matrix: FloatArray,
    labels: LabelArray,
    split: TimeSplit,
    params: ModelParams,
) -> Manifest:
    """``draft`` with the ensemble and thresholds fitted on validation, and both blocks' metrics.

    Scores come from :class:`LoadedModel`, the runtime that will serve the artifact.
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
    thresholds = {
        name: suggest_thresholds(y_validation, validation.by_name(name), params.thresholds)
        for name in MODEL_NAMES
    }
    metrics = {
        "validation": summary_metrics(y_validation, validation, thresholds),
        "test": summary_metrics(labels[split.test], model.score(matrix[split.test]), thresholds),
    }
    return msgspec.structs.replace(model.manifest, thresholds=thresholds, metrics=metrics)


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
    labels: LabelArray, scores: ScoreBatch, thresholds: dict[str, Thresholds]
) -> dict[str, ModelMetrics]:
    """Ranking and threshold metrics of every score, for the manifest."""
    result = {}
    for name in MODEL_NAMES:
        values = scores.by_name(name)
        roc_auc, average_precision = ranking_metrics(labels, values)
        review = at_threshold(labels, values, thresholds[name].review)
        block = at_threshold(labels, values, thresholds[name].block)
        result[name] = ModelMetrics(
            rows=len(labels),
            frauds=int(labels.sum()),
            roc_auc=roc_auc,
            average_precision=average_precision,
            review_precision=review.precision,
            review_recall=review.recall,
            block_precision=block.precision,
            block_recall=block.recall,
        )
    return result


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
            "use more data or change the fractions",
            problems,
        )


def _lap(started: float) -> float:
    return round(time.perf_counter() - started, 3)
