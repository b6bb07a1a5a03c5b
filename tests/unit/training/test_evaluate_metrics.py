"""Fraud metrics agree with scikit-learn and with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from training.metrics import at_threshold, card_precision_at_k, ranking_metrics, scenario_recall


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.93])
def test_threshold_metrics_match_sklearn(threshold: float) -> None:
    """Precision, recall, F1 and the confusion matrix equal scikit-learn's."""
    rng = np.random.default_rng(0)
    labels = (rng.random(5000) < 0.05).astype(np.int8)
    scores = np.clip(rng.normal(0.3 + 0.4 * labels, 0.2), 0.0, 1.0)
    metrics = at_threshold(labels, scores, threshold)
    predicted = (scores >= threshold).astype(np.int8)
    tn, fp, fn, tp = confusion_matrix(labels, predicted).ravel()
    assert (metrics.true_negatives, metrics.false_positives) == (tn, fp)
    assert (metrics.false_negatives, metrics.true_positives) == (fn, tp)
    assert metrics.precision == pytest.approx(precision_score(labels, predicted))
    assert metrics.recall == pytest.approx(recall_score(labels, predicted))
    assert metrics.f1 == pytest.approx(f1_score(labels, predicted))
    assert metrics.flagged == int(predicted.sum())


def test_precision_is_undefined_when_nothing_is_flagged() -> None:
    """With no flagged row, precision and F1 are None rather than a made-up 0."""
    metrics = at_threshold(np.array([0, 1], dtype=np.int8), np.array([0.1, 0.2]), 0.5)
    assert metrics.precision is None
    assert metrics.f1 is None
    assert metrics.recall == 0.0


def test_ranking_metrics_match_sklearn() -> None:
    """ROC AUC and average precision are scikit-learn's."""
    rng = np.random.default_rng(1)
    labels = (rng.random(1000) < 0.1).astype(np.int8)
    scores = rng.random(1000) + 0.3 * labels
    roc_auc, average_precision = ranking_metrics(labels, scores)
    assert roc_auc == pytest.approx(roc_auc_score(labels, scores))
    assert average_precision == pytest.approx(average_precision_score(labels, scores))


def test_ranking_metrics_are_undefined_for_one_class() -> None:
    """Without both classes there is no ROC AUC."""
    assert ranking_metrics(np.zeros(5, dtype=np.int8), np.random.default_rng(0).random(5)) == (
        None,
        None,
    )


def test_card_precision_at_k_by_hand() -> None:
    """Accounts score their daily max, are ranked per day (ties by id), and days are averaged."""
    days = ["d1"] * 6 + ["d2"] * 3
    accounts = ["a", "a", "b", "c", "d", "e", "a", "b", "c"]
    labels = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1], dtype=np.int8)
    scores = np.array([0.9, 0.1, 0.8, 0.8, 0.2, 0.3, 0.5, 0.7, 0.6])
    # Day 1 accounts: a 0.9 (fraud), b 0.8, c 0.8, e 0.3, d 0.2 (fraud) → top 2 = a, b → 1/2.
    # Day 2 accounts: b 0.7, c 0.6 (fraud), a 0.5 → top 2 = b, c → 1/2.
    assert card_precision_at_k(days, accounts, labels, scores, k=2) == pytest.approx(0.5)
    # k=3: day 1 top = a, b, c → 1/3; day 2 all three → 1/3.
    assert card_precision_at_k(days, accounts, labels, scores, k=3) == pytest.approx(1 / 3)
    # k larger than the accounts of a day: day 1 → 2/5, day 2 → 1/3.
    assert card_precision_at_k(days, accounts, labels, scores, k=10) == pytest.approx(
        (2 / 5 + 1 / 3) / 2
    )


def test_card_precision_needs_rows_and_a_positive_k() -> None:
    """No rows give None; k below 1 is refused."""
    empty = np.array([], dtype=np.int8)
    assert card_precision_at_k([], [], empty, np.array([]), k=5) is None
    with pytest.raises(ValueError, match="k must be at least 1"):
        card_precision_at_k(["d"], ["a"], np.array([1], dtype=np.int8), np.array([0.5]), k=0)


def test_scenario_recall_by_hand() -> None:
    """Each fraud scenario's recall counts only its own fraud rows."""
    scenarios = np.array(["legit", "ato", "ato", "ato", "testing", "legit"], dtype=object)
    labels = np.array([0, 1, 1, 1, 1, 0], dtype=np.int8)
    scores = np.array([0.9, 0.9, 0.5, 0.1, 0.6, 0.2])
    recall = scenario_recall(scenarios, labels, scores, review=0.4, block=0.8)
    assert set(recall) == {"ato", "testing"}
    assert recall["ato"].frauds == 3
    assert recall["ato"].review_recall == pytest.approx(2 / 3)
    assert recall["ato"].block_recall == pytest.approx(1 / 3)
    assert (recall["testing"].review_recall, recall["testing"].block_recall) == (1.0, 0.0)
