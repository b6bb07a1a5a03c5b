"""The two estimators: XGBoost and the Isolation Forest, fitted the way training needs them.

* **XGBoost**: ``binary:logistic`` with the ``hist`` tree method, class imbalance through
  ``scale_pos_weight = legit / fraud`` of the fit block, seeded row and column subsampling, and
  early stopping on the validation tail's average precision (the metric that matters when 99% of
  rows are legitimate). The kept rounds are sliced out so the saved model holds exactly them, and
  every effective parameter (``Booster.save_config``) is recorded: XGBoost 3's defaults differ
  from 1.x (``base_score``, ``tree_method``).
* **Isolation Forest**: scikit-learn's, seeded, all features per tree, fitted on the rows it is
  given (training passes the legitimate rows of the fit block), then exported to plain arrays.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import xgboost as xgb
from numpy.typing import NDArray

from artifacts.isolation_forest import ForestArrays, export_isolation_forest
from artifacts.manifest import IsolationForestInfo, XGBoostInfo
from training.calibration import ThresholdPolicy
from training.split import TimeSplit

FloatArray = NDArray[np.float64]
LabelArray = NDArray[np.int8]


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Hyperparameters of both models and the threshold policy."""

    n_estimators: int = 300
    max_depth: int = 6
    learning_rate: float = 0.1
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    max_bin: int = 256
    early_stopping_rounds: int = 30
    n_threads: int = 2
    forest_trees: int = 200
    forest_max_samples: int = 256
    thresholds: ThresholdPolicy = field(default_factory=ThresholdPolicy)


def fit_xgboost(
    matrix: FloatArray,
    labels: LabelArray,
    split: TimeSplit,
    *,
    params: ModelParams,
    seed: int,
    names: tuple[str, ...],
) -> tuple[xgb.Booster, XGBoostInfo]:
    """Fit the booster on the fit block, early-stopped on the validation tail."""
    y_fit = labels[split.fit]
    frauds = int(y_fit.sum())
    requested: dict[str, str | int | float | bool] = {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "max_depth": params.max_depth,
        "learning_rate": params.learning_rate,
        "subsample": params.subsample,
        "colsample_bytree": params.colsample_bytree,
        "min_child_weight": params.min_child_weight,
        "max_bin": params.max_bin,
        "scale_pos_weight": (len(y_fit) - frauds) / frauds,
        "seed": seed,
        "nthread": params.n_threads,
    }
    names_list = list(names)
    train_data = xgb.QuantileDMatrix(
        matrix[split.fit],
        y_fit,
        feature_names=names_list,
        max_bin=params.max_bin,
        nthread=params.n_threads,
    )
    # A plain DMatrix for the evaluation set: XGBoost then updates its cached predictions by one
    # tree per round; a QuantileDMatrix here made every round re-predict (~3x slower training).
    validation_data = xgb.DMatrix(
        matrix[split.validation],
        labels[split.validation],
        feature_names=names_list,
        nthread=params.n_threads,
    )
    booster = xgb.train(
        requested,
        train_data,
        num_boost_round=params.n_estimators,
        evals=[(validation_data, "validation")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )
    best_iteration = int(booster.best_iteration)
    booster = booster[: best_iteration + 1]
    for attribute in booster.attributes():
        booster.set_attr(**{attribute: None})
    config = json.loads(booster.save_config())
    effective: dict[str, str] = {}
    _flatten("", config, effective)
    base_score = config["learner"]["learner_model_param"]["base_score"]
    return booster, XGBoostInfo(
        params=requested,
        effective_config=effective,
        base_score=float(str(base_score).strip("[]")),
        num_boost_round=params.n_estimators,
        early_stopping_rounds=params.early_stopping_rounds,
        best_iteration=best_iteration,
        n_trees=booster.num_boosted_rounds(),
    )


def fit_isolation_forest(
    legit_rows: FloatArray, params: ModelParams, seed: int
) -> tuple[ForestArrays, IsolationForestInfo]:
    """Fit scikit-learn's IsolationForest on ``legit_rows`` and export it to arrays."""
    from sklearn.ensemble import IsolationForest  # noqa: PLC0415 - only training needs sklearn

    max_samples = min(params.forest_max_samples, len(legit_rows))
    forest = IsolationForest(
        n_estimators=params.forest_trees,
        max_samples=max_samples,
        max_features=1.0,
        bootstrap=False,
        random_state=seed,
        n_jobs=1,
    ).fit(legit_rows.astype(np.float32))
    arrays = export_isolation_forest(forest)
    return arrays, IsolationForestInfo(
        n_estimators=params.forest_trees,
        max_samples=max_samples,
        max_features=1.0,
        max_depth=int(np.ceil(np.log2(max(max_samples, 2)))),
        random_state=seed,
        trained_on="legitimate rows of the fit block",
        training_rows=len(legit_rows),
    )


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the model files."""
    libraries = {
        name: package_version(name) for name in ("xgboost-cpu", "scikit-learn", "numpy", "pandas")
    }
    return {"python": platform.python_version(), **libraries}


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    else:
        out[prefix] = str(value)
