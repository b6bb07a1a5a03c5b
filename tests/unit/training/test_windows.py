"""Date windows: train and test blocks are exact half-open date ranges; bad flags are named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInputError
from training.windows import TimeWindows, parse_test_window, parse_windows, window_split

START = pd.Timestamp("2025-01-01T00:00:00Z")
WINDOWS = TimeWindows(
    train_start=datetime(2025, 1, 3, tzinfo=UTC),
    train_end=datetime(2025, 1, 10, tzinfo=UTC),
    test_start=datetime(2025, 1, 13, tzinfo=UTC),
    test_end=datetime(2025, 1, 15, tzinfo=UTC),
)


def _hourly(days: int) -> pd.Series:
    return pd.Series(START + pd.to_timedelta(np.arange(days * 24), unit="h"))


def _locations(caught: pytest.ExceptionInfo[InvalidInputError]) -> list[str]:
    return [p.location for p in caught.value.problems]


def test_blocks_follow_the_dates_and_partition_the_rows() -> None:
    """Train is [train_start, train_end), test [test_start, test_end); every row in one block."""
    times = _hourly(20)
    split = window_split(times, WINDOWS, validation_fraction=0.25)
    blocks = [split.fit, split.validation, split.unlabelled, split.gap, split.test, split.outside]
    assert np.all(np.sum(blocks, axis=0) == 1)
    train = times[split.fit | split.validation]
    assert train.min() == pd.Timestamp("2025-01-03T00:00:00Z")
    assert train.max() == pd.Timestamp("2025-01-09T23:00:00Z")
    assert int(split.test.sum()) == 2 * 24
    assert times[split.test].min() == pd.Timestamp("2025-01-13T00:00:00Z")
    assert int(split.gap.sum()) == 3 * 24
    assert int(split.outside.sum()) == 2 * 24 + 6 * 24  # Jan 1-2 before train, Jan 15-20 after
    assert (split.gap_start, split.test_start) == (WINDOWS.train_end, WINDOWS.test_start)
    assert (split.train_start, split.test_end) == (WINDOWS.train_start, WINDOWS.test_end)
    assert WINDOWS.gap_days == 3.0


def test_validation_is_the_latest_share_of_train_rows() -> None:
    """Validation is the last quarter of the train block, right before its end."""
    split = window_split(_hourly(20), WINDOWS, validation_fraction=0.25)
    assert int(split.validation.sum()) == 42  # a quarter of 7 * 24 rows
    assert split.validation_start == datetime(2025, 1, 8, 6, tzinfo=UTC)
    assert np.array_equal(split.validation_period, split.validation)
    assert split.train_rows_per_day == pytest.approx(24.0)


def test_train_labels_not_known_by_the_train_end_are_left_out() -> None:
    """Rows whose label is known only after the train end are unlabelled, not fit/validation."""
    times = _hourly(20)
    known_at = (
        (pd.DatetimeIndex(times).tz_localize(None) + pd.Timedelta(days=2))
        .to_numpy()
        .astype("datetime64[us]")
    )
    split = window_split(times, WINDOWS, validation_fraction=0.25, known_at=known_at)
    # known iff time + 2 days <= the train end (inclusive): the rows after 01-08 00:00 are not
    assert int(split.unlabelled.sum()) == 2 * 24 - 1
    assert times[split.fit | split.validation].max() == pd.Timestamp("2025-01-08T00:00:00Z")
    assert split.validation_period[split.unlabelled].all()


def test_an_empty_train_or_test_block_names_its_flags() -> None:
    """Windows outside the data are refused with the flags of the empty block and the data span."""
    late = TimeWindows(
        train_start=datetime(2026, 1, 1, tzinfo=UTC),
        train_end=datetime(2026, 1, 2, tzinfo=UTC),
        test_start=datetime(2026, 1, 3, tzinfo=UTC),
        test_end=datetime(2026, 1, 4, tzinfo=UTC),
    )
    with pytest.raises(InvalidInputError) as caught:
        window_split(_hourly(20), late, validation_fraction=0.2)
    assert _locations(caught) == ["--train-start/--train-end", "--test-start/--test-end"]
    assert "the data spans 2025-01-01 to 2025-01-20T23:00:00+00:00" in str(caught.value)


def test_no_known_train_label_points_at_the_label_delay() -> None:
    """When every train label arrives after the train end, the error names --label-delay."""
    times = _hourly(20)
    never = np.full(len(times), np.datetime64("2030-01-01T00:00:00", "us"))
    with pytest.raises(InvalidInputError) as caught:
        window_split(times, WINDOWS, validation_fraction=0.2, known_at=never)
    assert _locations(caught) == ["--label-delay"]


def test_dates_parse_as_midnight_utc_and_offsets_are_kept() -> None:
    """A bare date is midnight UTC; a date-time with an offset keeps it."""
    windows = parse_windows("2025-01-03", "2025-01-10", "2025-01-13T08:00:00+02:00", "2025-01-15")
    assert windows is not None
    assert windows.train_start == datetime(2025, 1, 3, tzinfo=UTC)
    assert windows.test_start == datetime(2025, 1, 13, 8, tzinfo=timezone(timedelta(hours=2)))


def test_no_window_flags_mean_no_windows() -> None:
    """Without any of the four flags, training keeps its fraction split."""
    assert parse_windows(None, None, None, None) is None
    assert parse_test_window(None, None) is None


def test_window_flags_go_together() -> None:
    """Giving some but not all of the four flags names the missing ones."""
    with pytest.raises(InvalidInputError) as caught:
        parse_windows("2025-01-03", "2025-01-10", None, None)
    assert _locations(caught) == ["--test-start", "--test-end"]
    with pytest.raises(InvalidInputError) as caught:
        parse_test_window("2025-01-03", None)
    assert _locations(caught) == ["--test-end"]


def test_unparseable_dates_are_named_with_their_text() -> None:
    """A date that does not parse is reported under its flag, quoting the text."""
    with pytest.raises(InvalidInputError) as caught:
        parse_windows("2025-13-01", "2025-01-10", "2025-01-13", "next week")
    assert _locations(caught) == ["--train-start", "--test-end"]
    assert "'next week' is not an ISO 8601 date" in str(caught.value)


def test_blocks_must_end_after_they_start() -> None:
    """start >= end is refused for the train and the test block, naming the end flag."""
    with pytest.raises(InvalidInputError) as caught:
        parse_windows("2025-01-10", "2025-01-10", "2025-01-15", "2025-01-13")
    assert _locations(caught) == ["--train-end", "--test-end"]
    assert "2025-01-10 must be after --train-start 2025-01-10" in str(caught.value)
    with pytest.raises(InvalidInputError) as caught:
        parse_test_window("2025-01-15", "2025-01-13")
    assert _locations(caught) == ["--test-end"]


def test_test_block_must_not_start_before_the_train_end() -> None:
    """An overlapping test block is refused under --test-start."""
    with pytest.raises(InvalidInputError) as caught:
        parse_windows("2025-01-03", "2025-01-10", "2025-01-09", "2025-01-15")
    assert _locations(caught) == ["--test-start"]
    assert "must start at or after the end of the train block" in str(caught.value)


def test_adjacent_blocks_without_a_gap_are_allowed() -> None:
    """train_end == test_start: no gap rows."""
    windows = parse_windows("2025-01-03", "2025-01-10", "2025-01-10", "2025-01-12")
    assert windows is not None
    split = window_split(_hourly(20), windows, validation_fraction=0.2)
    assert not split.gap.any()
    assert windows.gap_days == 0.0
