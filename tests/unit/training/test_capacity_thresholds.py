"""Thresholds by reviewer capacity: expected review and block alerts per day fit the capacity."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibration import (
    AlertVolume,
    ThresholdPolicy,
    capacity_threshold,
    suggest_thresholds,
)


def _synthetic(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores where frauds (2%) tend to score high."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.02).astype(np.int8)
    scores = np.clip(rng.beta(1.0, 12.0, size=n) + 0.5 * labels * rng.random(n), 0.0, 1.0)
    return scores, labels


def test_capacity_picks_the_lowest_threshold_that_fits() -> None:
    """10 rows sampled from 100 rows a day: 20 reviews a day allow 2 sampled alerts."""
    scores = np.linspace(1.0, 0.1, 10)
    volume = AlertVolume(scores, rows_per_day=100.0)
    threshold = capacity_threshold(volume, reviews_per_day=20.0)
    assert threshold == pytest.approx(0.9)
    assert volume.per_day(threshold) == pytest.approx(20.0)
    assert volume.per_day(scores[2]) == pytest.approx(30.0)  # the next cut would not fit
    assert volume.alert_rate(threshold) == pytest.approx(0.2)


def test_a_tie_is_flagged_whole_or_not_at_all() -> None:
    """A cut never separates tied scores, so a tie that would overflow stays below it."""
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    volume = AlertVolume(scores, rows_per_day=5.0)
    assert capacity_threshold(volume, reviews_per_day=3.0) == 0.9
    assert capacity_threshold(volume, reviews_per_day=4.0) == 0.5


def test_capacity_below_the_top_score_flags_nothing() -> None:
    """When even the highest-scored rows exceed the capacity, no row is flagged."""
    volume = AlertVolume(np.array([0.7, 0.7, 0.2]), rows_per_day=30.0)
    threshold = capacity_threshold(volume, reviews_per_day=1.0)
    assert threshold > 0.7
    assert volume.per_day(threshold) == 0.0


def test_ample_capacity_flags_every_row() -> None:
    """A capacity above the whole traffic puts the threshold at the lowest score."""
    volume = AlertVolume(np.array([0.7, 0.4, 0.2]), rows_per_day=10.0)
    assert capacity_threshold(volume, reviews_per_day=50.0) == 0.2


@pytest.mark.parametrize("capacity", [5.0, 20.0, 80.0, 300.0])
def test_review_alerts_per_day_stay_within_capacity(capacity: float) -> None:
    """On synthetic scores, the chosen review threshold's expected volume is <= the capacity
    and adding the next-lower score would exceed it."""
    scores, labels = _synthetic()
    volume = AlertVolume(scores, rows_per_day=2_000.0)
    policy = ThresholdPolicy(reviews_per_day=capacity, block_precision=0.95)
    thresholds = suggest_thresholds(labels, scores, policy, volume)
    assert volume.per_day(thresholds.review) <= capacity
    below = scores[scores < thresholds.review]
    if below.size:
        assert volume.per_day(float(below.max())) > capacity
    assert thresholds.review <= thresholds.block
    assert f"fit {capacity:g} per day" in thresholds.review_policy


def test_more_capacity_means_a_lower_threshold_and_more_recall() -> None:
    """Review thresholds fall, and recall rises, as the capacity grows."""
    scores, labels = _synthetic(seed=1)
    volume = AlertVolume(scores, rows_per_day=2_000.0)
    reviews = [
        suggest_thresholds(labels, scores, ThresholdPolicy(reviews_per_day=c), volume).review
        for c in (10.0, 40.0, 160.0)
    ]
    assert reviews[0] > reviews[1] > reviews[2]
    recalls = [np.mean(scores[labels == 1] >= r) for r in reviews]
    assert recalls[0] < recalls[1] < recalls[2]


def test_block_keeps_its_precision_floor_under_a_capacity_policy() -> None:
    """Block is still the lowest cut with precision >= the floor when it fits the capacity."""
    scores = np.array([0.95, 0.9, 0.85, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    labels = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], dtype=np.int8)
    volume = AlertVolume(scores, rows_per_day=10.0)
    policy = ThresholdPolicy(reviews_per_day=6.0, block_precision=0.75, min_block_support=1)
    thresholds = suggest_thresholds(labels, scores, policy, volume)
    assert thresholds.block == 0.6  # precision 4/5 at 0.6, 4/6 below
    assert thresholds.review == 0.5  # 6 of 10 rows a day


def test_block_is_raised_when_blocking_alone_exceeds_the_capacity() -> None:
    """Block alerts count against the capacity: block moves up to the review threshold."""
    scores = np.linspace(1.0, 0.01, 100)
    labels = np.zeros(100, dtype=np.int8)
    labels[:40] = 1  # precision 1.0 down to 0.6: the block floor holds for 40 rows
    volume = AlertVolume(scores, rows_per_day=100.0)
    policy = ThresholdPolicy(reviews_per_day=10.0, block_precision=0.9, min_block_support=1)
    thresholds = suggest_thresholds(labels, scores, policy, volume)
    assert thresholds.review == thresholds.block == pytest.approx(scores[9])
    assert volume.per_day(thresholds.block) == pytest.approx(10.0)
    assert "raised to the review threshold" in thresholds.block_policy


def test_the_default_policy_still_chooses_by_recall() -> None:
    """Without a capacity, review is chosen by recall and the volume is not needed."""
    scores, labels = _synthetic(seed=2)
    policy = ThresholdPolicy()
    assert policy.review_method == "recall"
    thresholds = suggest_thresholds(labels, scores, policy)
    assert np.mean(scores[labels == 1] >= thresholds.review) >= 0.8
    assert ThresholdPolicy(reviews_per_day=5.0).review_method == "capacity"


def test_a_capacity_policy_needs_the_volume() -> None:
    """Capacity without an alert volume, or with nonsense numbers, is refused."""
    scores, labels = _synthetic(n=200)
    with pytest.raises(ValueError, match="needs the alert volume"):
        suggest_thresholds(labels, scores, ThresholdPolicy(reviews_per_day=5.0))
    with pytest.raises(ValueError, match="rows per day"):
        AlertVolume(scores, rows_per_day=0.0)
    with pytest.raises(ValueError, match="at least one scored row"):
        AlertVolume(np.array([]), rows_per_day=10.0)
    with pytest.raises(ValueError, match="reviews per day"):
        capacity_threshold(AlertVolume(scores, rows_per_day=10.0), reviews_per_day=0.0)
