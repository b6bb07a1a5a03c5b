"""Fit the ensemble and choose thresholds on the validation tail (pure numpy).

**Ensemble.** :func:`fit_ensemble` fits the stacked logistic regression described in
:mod:`artifacts.ensemble` by Newton's method (IRLS) with a small ridge penalty on standardized
inputs (the same model as scikit-learn's ``LogisticRegression(C=1)``, written out so it is
deterministic and dependency-free). Inputs whose fitted weight is negative are dropped and the
rest refitted, so the weights stay non-negative; when nothing is left the ensemble is XGBoost's
probability as is.

**Thresholds.** :func:`suggest_thresholds` applies a :class:`ThresholdPolicy`:

* ``review``: the highest threshold that still flags ``review_recall`` (default 80%) of the
  validation frauds: analysts see most fraud, the rest is left to rules;
* ``block``: the lowest threshold at and above which precision stays at least
  ``block_precision`` (default 90%) for every cut flagging at least ``min_block_support`` rows:
  blocking a good customer is costly, so only near-certain fraud is blocked. When no such cut
  exists, ``block`` is 1.0 (in practice, the model never blocks on its own);
* ``review`` is capped at ``block``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from artifacts.ensemble import IDENTITY, METHOD, sigmoid
from artifacts.manifest import EnsembleSpec, Thresholds

FloatArray = NDArray[np.float64]
_RIDGE = 1.0
_MAX_ITERATIONS = 100
_TOLERANCE = 1e-10


@dataclass(frozen=True, slots=True)
class ThresholdPolicy:
    """How suggested thresholds are chosen on validation data."""

    review_recall: float = 0.80
    block_precision: float = 0.90
    min_block_support: int = 10


def fit_ensemble(
    xgboost_margin: FloatArray, isolation_forest_score: FloatArray, labels: NDArray[np.int8]
) -> EnsembleSpec:
    """Fit ``sigmoid(b0 + w_xgb * margin + w_if * anomaly)`` to ``labels`` with ``w >= 0``."""
    y = np.asarray(labels, dtype=np.float64)
    inputs = {"xgboost": xgboost_margin, "isolation_forest": isolation_forest_score}
    kept = [name for name, values in inputs.items() if float(np.std(values)) > 0.0]
    while kept:
        intercept, weights = _logistic_fit([inputs[name] for name in kept], y)
        negative = [name for name, w in zip(kept, weights, strict=True) if w < 0.0]
        if not negative:
            chosen = dict(zip(kept, weights, strict=True))
            return EnsembleSpec(
                method=METHOD,
                intercept=intercept,
                xgboost_weight=chosen.get("xgboost", 0.0),
                isolation_forest_weight=chosen.get("isolation_forest", 0.0),
                fitted_rows=len(y),
                fitted_frauds=int(y.sum()),
            )
        kept.pop(int(np.argmin(weights)))
    return IDENTITY


def _logistic_fit(columns: list[FloatArray], y: FloatArray) -> tuple[float, list[float]]:
    """Ridge logistic regression on standardized columns, mapped back to the raw scale."""
    raw = np.column_stack(columns).astype(np.float64)
    mean, scale = raw.mean(axis=0), raw.std(axis=0)
    design = np.column_stack([np.ones(len(y)), (raw - mean) / scale])
    penalty = np.full(design.shape[1], _RIDGE)
    penalty[0] = 0.0
    beta = np.zeros(design.shape[1])
    for _ in range(_MAX_ITERATIONS):
        p = sigmoid(design @ beta)
        gradient = design.T @ (y - p) - penalty * beta
        hessian = (design.T * (p * (1.0 - p))) @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if float(np.max(np.abs(step))) < _TOLERANCE:
            break
    weights = beta[1:] / scale
    intercept = float(beta[0] - np.sum(weights * mean))
    return intercept, [float(w) for w in weights]


def suggest_thresholds(
    labels: NDArray[np.int8], scores: FloatArray, policy: ThresholdPolicy
) -> Thresholds:
    """Review and block thresholds for ``scores`` following ``policy`` (see module docs)."""
    fraud = np.asarray(labels) == 1
    n_frauds = int(np.count_nonzero(fraud))
    if n_frauds == 0:
        raise ValueError("choosing thresholds needs at least one fraud row")
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    true_positives = np.cumsum(fraud[order])
    # Cut i flags every row scoring >= sorted_scores[i]; keep the last index of each tie run.
    last_of_tie = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    cut_scores = sorted_scores[last_of_tie]
    flagged = np.flatnonzero(last_of_tie) + 1
    tp = true_positives[last_of_tie]
    recall = tp / n_frauds
    precision = tp / flagged

    reaching = np.flatnonzero(recall >= policy.review_recall)
    review_index = int(reaching[0])
    review = float(cut_scores[review_index])
    review_note = (
        f"highest score flagging >= {policy.review_recall:.0%} of validation frauds "
        f"(recall {recall[review_index]:.3f}, precision {precision[review_index]:.3f})"
    )

    supported = flagged >= policy.min_block_support
    failing = supported & (precision < policy.block_precision)
    first_failure = int(np.flatnonzero(failing)[0]) if failing.any() else len(cut_scores)
    candidates = np.flatnonzero(supported[:first_failure])
    if candidates.size:
        block_index = int(candidates[-1])
        block = float(cut_scores[block_index])
        block_note = (
            f"lowest score above which precision stays >= {policy.block_precision:.0%} on "
            f"validation (recall {recall[block_index]:.3f}, precision {precision[block_index]:.3f})"
        )
    else:
        block = 1.0
        block_note = (
            f"blocking disabled (threshold 1.0): precision {policy.block_precision:.0%} is not "
            f"reached on validation with at least {policy.min_block_support} flagged rows"
        )
    return Thresholds(
        review=_clean(min(review, block)),
        block=_clean(block),
        review_policy=review_note,
        block_policy=block_note,
    )


def _clean(value: float) -> float:
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 1.0
