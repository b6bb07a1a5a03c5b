"""Fit the ensemble and choose thresholds on the validation tail (pure numpy).

**Ensemble.** :func:`fit_ensemble` fits the stacked logistic regression described in
:mod:`artifacts.ensemble` by Newton's method (IRLS) with a small ridge penalty on standardized
inputs (the same model as scikit-learn's ``LogisticRegression(C=1)``, written out so it is
deterministic and dependency-free). Inputs whose fitted weight is negative are dropped and the
rest refitted, so the weights stay non-negative; when nothing is left the ensemble is XGBoost's
probability as is.

**Thresholds.** :func:`suggest_thresholds` applies a :class:`ThresholdPolicy`:

* ``review`` by **recall** (the default): the highest threshold that still flags
  ``review_recall`` (default 80%) of the validation frauds: analysts see most fraud, the rest is
  left to rules;
* ``review`` by **capacity** (``reviews_per_day`` set): the lowest threshold whose expected
  alerts per day fit the reviewers' capacity (:func:`capacity_threshold`). Expected alerts per day
  are an :class:`AlertVolume`: the **alert rate** on every row of the validation period, labelled
  or not (volume needs no labels), times the **rows per day** of the whole train block (whole
  weeks, so a validation tail that happens to cover busy weekdays does not skew the traffic).
  Blocked rows count as alerts too, so when blocking alone would exceed the capacity, ``block``
  is raised to the review threshold;
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
    reviews_per_day: float | None = None
    """When set, review is chosen by capacity instead of by ``review_recall``."""

    @property
    def review_method(self) -> str:
        """``capacity`` or ``recall``."""
        return "recall" if self.reviews_per_day is None else "capacity"


@dataclass(frozen=True, slots=True, eq=False)
class AlertVolume:
    """Scores of a sample of traffic (every row of the validation period) and the traffic's
    rows per day: the expected alerts per day at a threshold are the sample's alert rate times
    ``rows_per_day``."""

    scores: FloatArray
    rows_per_day: float

    def __post_init__(self) -> None:
        if self.scores.size == 0:
            raise ValueError("an alert volume needs at least one scored row")
        if not (self.rows_per_day > 0.0 and math.isfinite(self.rows_per_day)):
            raise ValueError(f"rows per day must be a positive number, got {self.rows_per_day}")

    def alert_rate(self, threshold: float) -> float:
        """Share of the sample at or above ``threshold``."""
        return float(np.count_nonzero(self.scores >= threshold)) / self.scores.size

    def per_day(self, threshold: float) -> float:
        """Expected alerts per day at ``score >= threshold``."""
        return self.alert_rate(threshold) * self.rows_per_day


def capacity_threshold(volume: AlertVolume, reviews_per_day: float) -> float:
    """The lowest threshold whose expected alerts per day (:meth:`AlertVolume.per_day`) are at
    most ``reviews_per_day``.

    Candidates are the observed scores (a threshold flags every row scoring at or above it, so
    a run of tied scores is flagged together). When even the highest score's rows exceed the
    capacity, the threshold is just above the highest score: nothing is flagged.
    """
    if not reviews_per_day > 0.0:
        raise ValueError(f"reviews per day must be positive, got {reviews_per_day}")
    ordered = np.sort(volume.scores)[::-1]
    last_of_tie = np.append(ordered[1:] != ordered[:-1], True)
    cut_scores = ordered[last_of_tie]
    flagged = np.flatnonzero(last_of_tie) + 1
    # flagged / size * rows_per_day <= reviews_per_day, in row counts of the sample
    budget = reviews_per_day * volume.scores.size / volume.rows_per_day * (1.0 + 1e-12)
    fitting = int(np.searchsorted(flagged, budget, side="right")) - 1
    if fitting < 0:
        return float(np.nextafter(cut_scores[0], np.inf))
    return float(cut_scores[fitting])


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
    labels: NDArray[np.int8],
    scores: FloatArray,
    policy: ThresholdPolicy,
    volume: AlertVolume | None = None,
) -> Thresholds:
    """Review and block thresholds for ``scores`` following ``policy`` (see module docs).

    ``volume`` is required by a capacity policy.
    """
    curve = _Curve.of(labels, scores)
    block, block_note = _block_threshold(curve, policy)
    if policy.reviews_per_day is None:
        review_index = int(np.flatnonzero(curve.recall >= policy.review_recall)[0])
        review = float(curve.cut_scores[review_index])
        review_note = (
            f"highest score flagging >= {policy.review_recall:.0%} of validation frauds "
            f"(recall {curve.recall[review_index]:.3f}, "
            f"precision {curve.precision[review_index]:.3f})"
        )
    else:
        if volume is None:
            raise ValueError("a capacity threshold policy needs the alert volume")
        review = capacity_threshold(volume, policy.reviews_per_day)
        review_note = _capacity_note(policy.reviews_per_day, volume, review, labels, scores)
        if block < review:
            block = review
            block_note += (
                "; raised to the review threshold: blocking alone would exceed "
                f"{policy.reviews_per_day:g} alerts per day"
            )
    return Thresholds(
        review=_clean(min(review, block)),
        block=_clean(block),
        review_policy=review_note,
        block_policy=block_note,
    )


@dataclass(frozen=True, slots=True, eq=False)
class _Curve:
    """Every distinct cut of the scores (highest first): rows flagged, recall and precision."""

    cut_scores: FloatArray
    flagged: NDArray[np.int64]
    recall: FloatArray
    precision: FloatArray

    @classmethod
    def of(cls, labels: NDArray[np.int8], scores: FloatArray) -> _Curve:
        fraud = np.asarray(labels) == 1
        n_frauds = int(np.count_nonzero(fraud))
        if n_frauds == 0:
            raise ValueError("choosing thresholds needs at least one fraud row")
        order = np.argsort(-scores, kind="stable")
        sorted_scores = scores[order]
        true_positives = np.cumsum(fraud[order])
        # Cut i flags every row scoring >= sorted_scores[i]; keep the last index of each tie run.
        last_of_tie = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
        flagged = np.flatnonzero(last_of_tie) + 1
        tp = true_positives[last_of_tie]
        return cls(sorted_scores[last_of_tie], flagged, tp / n_frauds, tp / flagged)


def _block_threshold(curve: _Curve, policy: ThresholdPolicy) -> tuple[float, str]:
    supported = curve.flagged >= policy.min_block_support
    failing = supported & (curve.precision < policy.block_precision)
    first_failure = int(np.flatnonzero(failing)[0]) if failing.any() else len(curve.cut_scores)
    candidates = np.flatnonzero(supported[:first_failure])
    if candidates.size == 0:
        return 1.0, (
            f"blocking disabled (threshold 1.0): precision {policy.block_precision:.0%} is not "
            f"reached on validation with at least {policy.min_block_support} flagged rows"
        )
    index = int(candidates[-1])
    return float(curve.cut_scores[index]), (
        f"lowest score above which precision stays >= {policy.block_precision:.0%} on "
        f"validation (recall {curve.recall[index]:.3f}, precision {curve.precision[index]:.3f})"
    )


def _capacity_note(
    reviews_per_day: float,
    volume: AlertVolume,
    review: float,
    labels: NDArray[np.int8],
    scores: FloatArray,
) -> str:
    fraud = np.asarray(labels) == 1
    flagged = scores >= review
    caught = int(np.count_nonzero(flagged & fraud))
    recall = caught / int(np.count_nonzero(fraud))
    precision = f"{caught / int(np.count_nonzero(flagged)):.3f}" if flagged.any() else "n/a"
    return (
        f"lowest score whose review and block alerts fit {reviews_per_day:g} per day: "
        f"expected {volume.per_day(review):.1f} per day (alert rate {volume.alert_rate(review):.3%}"
        f" of {volume.scores.size} validation-period rows x {volume.rows_per_day:.0f} rows per "
        f"day; recall {recall:.3f}, precision {precision} on validation)"
    )


def _clean(value: float) -> float:
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 1.0
