"""Builders of a small artifact: synthetic rows, a complete manifest, the parts of a model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import xgboost as xgb
from numpy.typing import NDArray
from sklearn.ensemble import IsolationForest

from artifacts.isolation_forest import ForestArrays
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

FEATURES = ("amount", "txn_count_by_account_1h", "device_first_seen_by_account_30d", "hour")
WHEN = datetime(2025, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Parts:
    """What an artifact is made of, before it is written."""

    manifest: Manifest
    booster: xgb.Booster
    forest: IsolationForest
    arrays: ForestArrays
    rows: NDArray[np.float64]


def synthetic_rows(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """Rows with a fraud signal in the first three features and some missing values."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.1).astype(np.int8)
    rows = rng.normal(size=(n, len(FEATURES)))
    rows[labels == 1, 0] += 2.5
    rows[labels == 1, 1] += 1.5
    rows[labels == 1, 2] -= 1.0
    rows[rng.random(rows.shape) < 0.05] = np.nan
    return rows, labels


def make_manifest(
    names: tuple[str, ...] = FEATURES, ensemble: EnsembleSpec | None = None
) -> Manifest:
    """A complete manifest with placeholder summaries (files and version filled by the writer)."""
    summary = DataSummary(rows=10, frauds=1, start=WHEN, end=WHEN, scenarios={"legit": 9})
    thresholds = Thresholds(review=0.3, block=0.8, review_policy="test", block_policy="test")
    return Manifest(
        format_version=FORMAT_VERSION,
        version="",
        created_at=WHEN,
        feature_names=list(names),
        feature_spec_version="spec-1",
        seed=0,
        data=summary,
        split=SplitSummary(
            gap_days=7.0,
            test_fraction=0.2,
            validation_fraction=0.15,
            test_start=WHEN,
            gap_start=WHEN,
            fit=summary,
            validation=summary,
            gap=summary,
            test=summary,
        ),
        xgboost=XGBoostInfo(
            params={},
            effective_config={},
            base_score=0.5,
            num_boost_round=20,
            early_stopping_rounds=0,
            best_iteration=19,
            n_trees=20,
        ),
        isolation_forest=IsolationForestInfo(
            n_estimators=50,
            max_samples=128,
            max_features=1.0,
            max_depth=7,
            random_state=0,
            trained_on="all rows",
            training_rows=2000,
        ),
        ensemble=ensemble
        or EnsembleSpec(
            method="logistic_stack",
            intercept=-1.0,
            xgboost_weight=0.8,
            isolation_forest_weight=2.0,
            fitted_rows=100,
            fitted_frauds=10,
        ),
        thresholds=dict.fromkeys(("xgboost", "isolation_forest", "ensemble"), thresholds),
        metrics={},
        libraries={"xgboost": xgb.__version__},
        files={},
    )
