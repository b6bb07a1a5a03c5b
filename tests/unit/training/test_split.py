"""The time split keeps test after train, leaves a label-delay gap, and explains failures."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInputError
from training.split import rows_from, summarize, time_split

START = pd.Timestamp("2025-01-01T00:00:00Z")


def _hourly(days: int) -> pd.Series:
    return pd.Series(START + pd.to_timedelta(np.arange(days * 24), unit="h"))


def test_blocks_are_disjoint_ordered_and_cover_every_row() -> None:
    """Each row is in exactly one block, and fit < validation < gap < test in time."""
    times = _hourly(100)
    split = time_split(times, test_fraction=0.2, gap_days=7, validation_fraction=0.25)
    blocks = [split.fit, split.validation, split.gap, split.test]
    assert np.all(np.sum(blocks, axis=0) == 1)
    for earlier, later in itertools.pairwise(blocks):
        assert times[earlier].max() < times[later].min()


def test_gap_spans_the_configured_days_before_test() -> None:
    """The gap is exactly [test_start - gap_days, test_start)."""
    times = _hourly(100)
    split = time_split(times, test_fraction=0.2, gap_days=7, validation_fraction=0.25)
    assert split.test_start - split.gap_start == timedelta(days=7)
    assert int(split.gap.sum()) == 7 * 24
    assert int(split.test.sum()) == 480
    assert times[split.test].min() == split.test_start


def test_validation_is_the_latest_share_of_train() -> None:
    """The validation tail holds the requested share of the rows before the gap."""
    times = _hourly(100)
    split = time_split(times, test_fraction=0.2, gap_days=7, validation_fraction=0.25)
    train = int(split.fit.sum() + split.validation.sum())
    assert int(split.validation.sum()) == round(train * 0.25)


def test_rows_sharing_the_boundary_time_all_go_to_test() -> None:
    """Rows with the test start's timestamp are never split between blocks."""
    times = pd.Series([START + timedelta(days=d) for d in (0, 1, 2, 3, 30, 30, 30)])
    split = time_split(times, test_fraction=0.2, gap_days=1, validation_fraction=0.3)
    assert split.test.tolist() == [False] * 4 + [True] * 3


def test_row_order_does_not_matter() -> None:
    """Masks follow the rows, whatever their order in the frame."""
    times = _hourly(40)
    shuffled = times.sample(frac=1.0, random_state=1).reset_index(drop=True)
    split = time_split(shuffled, test_fraction=0.25, gap_days=2, validation_fraction=0.2)
    assert shuffled[split.test].min() >= shuffled[~split.test].max()


def test_rows_from_recovers_the_test_block() -> None:
    """Evaluation finds the same test rows from the recorded test start."""
    times = _hourly(50)
    split = time_split(times, test_fraction=0.3, gap_days=3, validation_fraction=0.2)
    np.testing.assert_array_equal(rows_from(times, split.test_start), split.test)


def test_gap_longer_than_the_history_is_explained() -> None:
    """A gap that swallows all training rows is rejected, suggesting what to change."""
    with pytest.raises(InvalidInputError, match="lower the gap or the test fraction"):
        time_split(_hourly(10), test_fraction=0.2, gap_days=30, validation_fraction=0.2)


def test_bad_fractions_are_all_reported() -> None:
    """Out-of-range options are reported together, by name."""
    with pytest.raises(InvalidInputError) as caught:
        time_split(_hourly(10), test_fraction=1.5, gap_days=-1, validation_fraction=0.0)
    assert [p.location for p in caught.value.problems] == [
        "test_fraction",
        "validation_fraction",
        "gap_days",
    ]


def test_naive_timestamps_are_rejected() -> None:
    """Event times without a timezone are refused."""
    naive = pd.Series(pd.date_range("2025-01-01", periods=10, freq="h"))
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        time_split(naive, test_fraction=0.2, gap_days=0, validation_fraction=0.2)


def test_summary_counts_rows_frauds_and_scenarios() -> None:
    """A block summary counts rows, frauds, its time range and rows per scenario."""
    frame = pd.DataFrame(
        {
            "timestamp": _hourly(1)[:4],
            "label": [0, 1, 1, 0],
            "scenario": ["legit", "card_testing", "card_testing", "legit"],
        }
    )
    summary = summarize(frame, np.array([True, True, True, False]))
    assert (summary.rows, summary.frauds) == (3, 2)
    assert summary.scenarios == {"card_testing": 2, "legit": 1}
    assert summary.start == START.to_pydatetime()
    assert summary.end == (START + timedelta(hours=2)).to_pydatetime()
