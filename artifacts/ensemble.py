"""How XGBoost and the Isolation Forest combine into one fraud probability.

The ensemble is a **stacked logistic regression** (Platt scaling with two inputs)::

    log_odds = intercept + w_xgb * xgboost_margin + w_if * isolation_forest_score
    ensemble = sigmoid(log_odds)

fitted by training on the time-ordered validation tail, which neither model was fitted on. Why:

* XGBoost is trained with ``scale_pos_weight`` to cope with ~1% fraud, which inflates its
  probabilities; refitting the intercept and slope on untouched, naturally imbalanced data brings
  the ensemble back to a calibrated probability, so thresholds read as fraud probabilities.
* The weight of the anomaly score is learnt from labels instead of guessed, and both weights are
  constrained to be non-negative (a more anomalous or more fraud-like transaction never lowers
  the risk); an input whose fitted weight would be negative is dropped.
* In log-odds the ensemble is linear in XGBoost's margin, which is itself the exact sum of the
  per-feature SHAP contributions, so ``w_xgb * contribution`` is each feature's exact share of the
  ensemble's log-odds: explanations stay faithful to the score that decided.

This module is pure arithmetic on arrays; fitting lives in ``training``.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from artifacts.manifest import EnsembleSpec

METHOD: Final = "logistic_stack"
IDENTITY: Final = EnsembleSpec(
    method=METHOD,
    intercept=0.0,
    xgboost_weight=1.0,
    isolation_forest_weight=0.0,
    fitted_rows=0,
    fitted_frauds=0,
)
"""The ensemble that simply returns XGBoost's probability."""

FloatArray = NDArray[np.float64]


def sigmoid(log_odds: NDArray[Any]) -> FloatArray:
    """Numerically stable logistic function (no overflow warnings for large ``|z|``)."""
    z = np.asarray(log_odds, dtype=np.float64)
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def ensemble_log_odds(
    spec: EnsembleSpec, xgboost_margin: NDArray[Any], isolation_forest_score: NDArray[Any]
) -> FloatArray:
    """The ensemble's log-odds for each row."""
    margin = np.asarray(xgboost_margin, dtype=np.float64)
    anomaly = np.asarray(isolation_forest_score, dtype=np.float64)
    return spec.intercept + spec.xgboost_weight * margin + spec.isolation_forest_weight * anomaly


def ensemble_probability(
    spec: EnsembleSpec, xgboost_margin: NDArray[Any], isolation_forest_score: NDArray[Any]
) -> FloatArray:
    """The ensemble's fraud probability in [0, 1] for each row."""
    return sigmoid(ensemble_log_odds(spec, xgboost_margin, isolation_forest_score))
