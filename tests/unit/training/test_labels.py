"""Label visibility: a label counts for training only once it is known, by the train end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import DataImportError
from training.dataset import read_dataset, write_dataset
from training.labels import label_known_times, labels_known_by, parse_label_delay
from training.split import TimeSplit, time_split

START = pd.Timestamp("2025-01-01T00:00:00Z")


def _frame(hours: int) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": START + pd.to_timedelta(np.arange(hours), unit="h")})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("0d", timedelta(0)),
        ("7d", timedelta(days=7)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
    ],
)
def test_label_delays_parse(text: str, expected: timedelta) -> None:
    """A delay is <count><unit> (s, m, h, d); a bare 0 needs no unit."""
    assert parse_label_delay(text) == expected


@pytest.mark.parametrize("text", ["7", "-1d", "1w", "seven days", "400d", ""])
def test_bad_label_delays_say_what_a_delay_is(text: str) -> None:
    """A delay without unit, negative, in weeks or too long is refused with the grammar."""
    with pytest.raises(ValueError, match="label delay"):
        parse_label_delay(text)


def test_without_a_known_at_column_labels_arrive_after_the_delay() -> None:
    """Each row's label is known at its event time plus the delay."""
    known = label_known_times(_frame(3), timedelta(days=7))
    assert known.dtype == np.dtype("datetime64[us]")
    assert known[0] == np.datetime64("2025-01-08T00:00:00", "us")
    assert known[2] == np.datetime64("2025-01-08T02:00:00", "us")


def test_label_known_at_wins_where_given() -> None:
    """A row's label_known_at is used as is; an empty cell falls back to time + delay."""
    frame = _frame(3)
    frame["label_known_at"] = pd.Series(
        [pd.Timestamp("2025-02-01T00:00:00Z"), pd.NaT, pd.Timestamp("2025-01-01T05:00:00Z")],
        dtype="datetime64[us, UTC]",
    )
    known = label_known_times(frame, timedelta(days=1))
    assert list(known) == [
        np.datetime64("2025-02-01T00:00:00", "us"),
        np.datetime64("2025-01-02T01:00:00", "us"),
        np.datetime64("2025-01-01T05:00:00", "us"),
    ]


def test_known_by_includes_the_cutoff_itself() -> None:
    """A label known exactly at the cutoff counts; one a microsecond later does not."""
    known = np.array(["2025-01-08T00:00:00", "2025-01-08T00:00:00.000001"], dtype="datetime64[us]")
    cutoff = datetime(2025, 1, 8, tzinfo=UTC)
    assert labels_known_by(known, cutoff).tolist() == [True, False]
    with pytest.raises(ValueError, match="no timezone"):
        labels_known_by(known, cutoff.replace(tzinfo=None))


def test_negative_delays_are_refused() -> None:
    """A label cannot be known before its transaction."""
    with pytest.raises(ValueError, match="must not be negative"):
        label_known_times(_frame(2), timedelta(days=-1))


def test_fraction_split_trains_only_on_labels_known_at_the_gap_start() -> None:
    """With a delay, the last train rows become unlabelled; without one, nothing changes."""
    frame = _frame(100 * 24)

    def split(delay: timedelta | None) -> TimeSplit:
        known_at = None if delay is None else label_known_times(frame, delay)
        return time_split(
            frame["timestamp"],
            test_fraction=0.2,
            gap_days=7.0,
            validation_fraction=0.25,
            known_at=known_at,
        )

    plain, delayed = split(None), split(timedelta(days=3))
    assert not plain.unlabelled.any()
    assert np.array_equal(split(timedelta(0)).fit, plain.fit)
    assert int(delayed.unlabelled.sum()) == 3 * 24 - 1  # known iff time + 3 d <= gap start
    assert not (delayed.unlabelled & (delayed.fit | delayed.validation)).any()
    assert np.array_equal(delayed.gap, plain.gap)
    assert np.array_equal(delayed.test, plain.test)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_label_known_at_round_trips_through_dataset_files(
    tmp_path: Path, suffix: str, sample: pd.DataFrame
) -> None:
    """The optional column is written and read back exactly, empty cells included."""
    frame = sample.assign(
        label_known_at=pd.Series(
            [pd.Timestamp("2024-02-01T10:00:00.25Z"), pd.NaT, pd.NaT],
            dtype="datetime64[us, UTC]",
        )
    )
    path = tmp_path / f"data{suffix}"
    write_dataset(frame, path)
    back = read_dataset(path)
    assert str(back["label_known_at"].dtype) == "datetime64[us, UTC]"
    pd.testing.assert_series_equal(back["label_known_at"], frame["label_known_at"])


def test_a_label_known_before_its_transaction_is_refused(
    tmp_path: Path, sample: pd.DataFrame
) -> None:
    """label_known_at earlier than the row's timestamp is a row error naming the column."""
    frame = sample.assign(
        label_known_at=pd.Series(
            [pd.Timestamp("2023-01-01T00:00:00Z"), pd.NaT, pd.NaT], dtype="datetime64[us, UTC]"
        )
    )
    with pytest.raises(DataImportError) as caught:
        write_dataset(frame, tmp_path / "data.csv")
    assert [p.location for p in caught.value.problems] == ["row 1, column label_known_at"]
    assert "is before the row's timestamp" in caught.value.problems[0].message


@pytest.fixture
def sample() -> pd.DataFrame:
    """Three valid labelled rows in time order."""
    return pd.DataFrame(
        {
            "transaction_id": ["t1", "t2", "t3"],
            "account_id": ["a1", "a1", "a2"],
            "amount": [10.0, 20.5, 3.25],
            "currency": ["EUR", "EUR", "USD"],
            "timestamp": pd.Series(
                pd.to_datetime(
                    ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"]
                ),
                dtype="datetime64[us, UTC]",
            ),
            "merchant_id": ["m1", "m2", "m1"],
            "merchant_category": ["5411", "5999", "0742"],
            "country": ["DE", "DE", "US"],
            "channel": ["pos", "ecommerce", "pos"],
            "label": pd.Series([1, 0, 0], dtype="int8"),
            "scenario": ["card_testing", "legit", "legit"],
        }
    ).astype(
        dict.fromkeys(
            (
                "transaction_id",
                "account_id",
                "currency",
                "merchant_id",
                "merchant_category",
                "country",
                "channel",
                "scenario",
            ),
            "str",
        )
    )
