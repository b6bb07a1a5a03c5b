"""The ensemble fit is a non-negative logistic stack; thresholds follow the stated policy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from artifacts.ensemble import IDENTITY, sigmoid
from training.calibration import ThresholdPolicy, fit_ensemble, suggest_thresholds


def _stacked(
    n: int, w_margin: float, w_anomaly: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    margin = rng.normal(-2.0, 2.0, size=n)
    anomaly = rng.uniform(0.3, 0.8, size=n)
    labels = (rng.random(n) < sigmoid(-3.0 + w_margin * margin + w_anomaly * anomaly)).astype(
        np.int8
    )
    return margin, anomaly, labels


def test_fit_matches_sklearn_logistic_regression() -> None:
    """Coefficients equal LogisticRegression(C=1) on standardized inputs, mapped back."""
    margin, anomaly, labels = _stacked(20_000, 0.9, 3.0)
    spec = fit_ensemble(margin, anomaly, labels)
    raw = np.column_stack([margin, anomaly])
    mean, scale = raw.mean(axis=0), raw.std(axis=0)
    reference = LogisticRegression(C=1.0, tol=1e-12, max_iter=1000).fit(
        (raw - mean) / scale, labels
    )
    weights = reference.coef_[0] / scale
    intercept = reference.intercept_[0] - np.sum(weights * mean)
    assert spec.xgboost_weight == pytest.approx(weights[0], rel=1e-5)
    assert spec.isolation_forest_weight == pytest.approx(weights[1], rel=1e-5)
    assert spec.intercept == pytest.approx(intercept, rel=1e-5)
    assert (spec.fitted_rows, spec.fitted_frauds) == (20_000, int(labels.sum()))


def test_fit_recovers_the_generating_weights() -> None:
    """With plenty of data the fitted weights approach the true ones."""
    margin, anomaly, labels = _stacked(200_000, 0.9, 3.0, seed=2)
    spec = fit_ensemble(margin, anomaly, labels)
    assert spec.xgboost_weight == pytest.approx(0.9, abs=0.05)
    assert spec.isolation_forest_weight == pytest.approx(3.0, abs=0.6)


def test_negative_anomaly_weight_is_dropped() -> None:
    """An anomaly score that lowers fraud odds gets weight 0 and the rest is refitted."""
    margin, anomaly, labels = _stacked(20_000, 1.0, -6.0, seed=3)
    spec = fit_ensemble(margin, anomaly, labels)
    assert spec.isolation_forest_weight == 0.0
    assert spec.xgboost_weight > 0.5


def test_constant_inputs_fall_back_to_xgboost_alone() -> None:
    """With nothing to learn from, the ensemble is XGBoost's probability."""
    labels = np.array([0, 1, 0, 1], dtype=np.int8)
    assert fit_ensemble(np.zeros(4), np.full(4, 0.5), labels) == IDENTITY


def test_review_threshold_reaches_the_target_recall() -> None:
    """Review is the highest score still flagging the target share of frauds."""
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    labels = np.array([1, 1, 0, 1, 0, 1, 0, 1, 0, 0], dtype=np.int8)
    policy = ThresholdPolicy(review_recall=0.6, block_precision=0.99, min_block_support=1)
    thresholds = suggest_thresholds(labels, scores, policy)
    assert thresholds.review == 0.6  # 3 of 5 frauds have score >= 0.6
    assert "recall 0.600" in thresholds.review_policy


def test_block_threshold_keeps_precision_above_target() -> None:
    """Block is the lowest cut at and above which precision stays >= the target."""
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    labels = np.array([1, 1, 1, 1, 0, 1, 0, 0], dtype=np.int8)
    policy = ThresholdPolicy(review_recall=0.8, block_precision=0.8, min_block_support=2)
    thresholds = suggest_thresholds(labels, scores, policy)
    # Precision by cut: 1, 1, 1, 1, .8, .83, .71 → the last cut before it drops below .8 is 0.4.
    assert thresholds.block == 0.4
    assert thresholds.review == 0.4  # recall 0.8 needs 4 of 5 frauds: score 0.6, capped at block


def test_block_is_disabled_when_precision_is_never_reached() -> None:
    """No supported cut reaches the precision: block is 1.0 and the policy says so."""
    scores = np.linspace(1.0, 0.0, 20)
    labels = np.array([0, 1] * 10, dtype=np.int8)
    thresholds = suggest_thresholds(labels, scores, ThresholdPolicy(min_block_support=2))
    assert thresholds.block == 1.0
    assert "blocking disabled" in thresholds.block_policy


def test_tied_scores_are_flagged_together() -> None:
    """A cut never separates rows with the same score."""
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    labels = np.array([1, 1, 0, 0, 0], dtype=np.int8)
    thresholds = suggest_thresholds(
        labels, scores, ThresholdPolicy(review_recall=1.0, min_block_support=1)
    )
    assert thresholds.review == 0.5
    assert thresholds.block == 0.9


def test_thresholds_need_a_fraud() -> None:
    """Choosing thresholds without any fraud is refused."""
    with pytest.raises(ValueError, match="at least one fraud"):
        suggest_thresholds(np.zeros(3, dtype=np.int8), np.ones(3), ThresholdPolicy())
