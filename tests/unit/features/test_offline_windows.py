"""Hand-computed cases pin down the window semantics of the offline feature computation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInputError
from features.definitions import FeatureSet, FeatureSpec, Stat, TransactionFeatureKind
from features.offline import compute_features
from features.reference import reference_features

MINUTE = 60_000


def _spec(stat: Stat, window: str = "1m", **kw: Any) -> FeatureSpec:
    return FeatureSpec(entity=kw.pop("entity", "account_id"), stat=stat, window=window, **kw)


def _compute(frame: pd.DataFrame, *specs: FeatureSpec) -> pd.DataFrame:
    feature_set = FeatureSet(windowed=specs)
    result = compute_features(frame, feature_set)
    pd.testing.assert_frame_equal(result, reference_features(frame, feature_set))
    return result


def _column(result: pd.DataFrame, spec: FeatureSpec) -> list[float]:
    return [float(v) for v in result[spec.name]]


def _same(actual: list[float], expected: list[float]) -> bool:
    return len(actual) == len(expected) and all(
        (math.isnan(a) and math.isnan(e)) or a == e for a, e in zip(actual, expected, strict=True)
    )


def test_window_excludes_its_open_start_and_includes_the_current_row(make_frame: Any) -> None:
    """A 1m window at t covers (t - 1m, t]: a row exactly 1m earlier is out, the row itself in."""
    frame = make_frame([{"ms": 0}, {"ms": 30_000}, {"ms": MINUTE}, {"ms": MINUTE + 1}])
    count = _spec(Stat.COUNT)
    assert _column(_compute(frame, count), count) == [1.0, 2.0, 2.0, 3.0]


def test_amount_sums_are_exact_decimal_sums(make_frame: Any) -> None:
    """Sums are computed in 1e-4 units, so 0.1 + 0.2 is exactly 0.3 and the mean 0.15."""
    frame = make_frame([{"ms": 0, "amount": 0.1}, {"ms": 1, "amount": 0.2}])
    total, mean, largest = _spec(Stat.SUM), _spec(Stat.MEAN), _spec(Stat.MAX)
    result = _compute(frame, total, mean, largest)
    assert _column(result, total) == [0.1, 0.3]
    assert _column(result, mean) == [0.1, 0.15]
    assert _column(result, largest) == [0.1, 0.2]


def test_lagged_window_is_shifted_back_and_may_be_empty(make_frame: Any) -> None:
    """With lag 1m a 1m window covers (t - 2m, t - 1m]; an empty one has count 0, mean NaN."""
    frame = make_frame(
        [{"ms": ms, "amount": 1.0 + ms / MINUTE} for ms in range(0, 150_000, 30_000)]
    )
    count, total = _spec(Stat.COUNT, lag="1m"), _spec(Stat.SUM, lag="1m")
    mean, largest = _spec(Stat.MEAN, lag="1m"), _spec(Stat.MAX, lag="1m")
    result = _compute(frame, count, total, mean, largest)
    assert _column(result, count) == [0.0, 0.0, 1.0, 2.0, 2.0]
    assert _column(result, total) == [0.0, 0.0, 1.0, 2.5, 3.5]
    assert _same(_column(result, mean), [math.nan, math.nan, 1.0, 1.25, 1.75])
    assert _same(_column(result, largest), [math.nan, math.nan, 1.0, 1.5, 2.0])


def test_rows_at_equal_timestamps_arrive_in_input_order(make_frame: Any) -> None:
    """Ties keep input order: each sees the earlier-listed ones, never the later ones."""
    frame = make_frame([{"ms": 5}, {"ms": 0}, {"ms": 5}, {"ms": 5}])
    count, since = _spec(Stat.COUNT), _spec(Stat.SECONDS_SINCE_LAST)
    result = _compute(frame, count, since)
    assert _column(result, count) == [2.0, 1.0, 3.0, 4.0]
    assert _same(_column(result, since), [0.005, math.nan, 0.0, 0.0])


def test_sub_millisecond_digits_are_dropped(make_frame: Any) -> None:
    """Event time is floored to the millisecond before any window arithmetic."""
    frame = make_frame([{"ms": 0}, {"ms": MINUTE}])
    frame.loc[1, "timestamp"] += pd.Timedelta(microseconds=999)
    count = _spec(Stat.COUNT)
    assert _column(_compute(frame, count), count) == [1.0, 1.0]


def test_seconds_since_last_looks_only_inside_the_window(make_frame: Any) -> None:
    """The previous transaction must lie in (t - w, t]; exactly w earlier is too old."""
    frame = make_frame([{"ms": 0}, {"ms": 1_500}, {"ms": 61_500}, {"ms": 121_499}])
    since = _spec(Stat.SECONDS_SINCE_LAST)
    assert _same(_column(_compute(frame, since), since), [math.nan, 1.5, math.nan, 59.999])


def test_first_seen_flags_values_absent_from_the_previous_rows(make_frame: Any) -> None:
    """first_seen is 1 for a value not among the window's earlier rows, NaN for a null value."""
    devices = ["d1", "d2", "d1", None, "d2", "d1", "d1"]
    times = [0, 10_000, 20_000, 30_000, 40_000, 80_001, 80_001]
    frame = make_frame([{"ms": t, "device_id": d} for t, d in zip(times, devices, strict=True)])
    first = _spec(Stat.FIRST_SEEN, of="device_id")
    expected = [1.0, 1.0, 0.0, math.nan, 0.0, 1.0, 0.0]
    assert _same(_column(_compute(frame, first), first), expected)


def test_distinct_counts_non_null_values_in_the_window(make_frame: Any) -> None:
    """distinct counts the window's different non-null values, the current row's included."""
    devices = ["d1", "d2", "d1", None, "d3", "d3"]
    times = [0, 10_000, 20_000, 30_000, 65_000, 75_000]
    frame = make_frame([{"ms": t, "device_id": d} for t, d in zip(times, devices, strict=True)])
    distinct = _spec(Stat.DISTINCT, of="device_id")
    assert _column(_compute(frame, distinct), distinct) == [1.0, 2.0, 2.0, 2.0, 3.0, 2.0]


def test_distinct_with_a_lag_ignores_the_current_value(make_frame: Any) -> None:
    """A lagged window does not contain the current row, so its value is not counted."""
    frame = make_frame([{"ms": 0, "merchant_id": "m1"}, {"ms": 90_000, "merchant_id": "m2"}])
    distinct = _spec(Stat.DISTINCT, lag="1m", of="merchant_id")
    first = _spec(Stat.FIRST_SEEN, lag="1m", of="merchant_id")
    result = _compute(frame, distinct, first)
    assert _column(result, distinct) == [0.0, 1.0]
    assert _column(result, first) == [1.0, 1.0]


def test_null_entity_makes_its_features_missing_and_is_not_counted(make_frame: Any) -> None:
    """A row without a device has NaN device features and is in no device's window."""
    frame = make_frame([{"ms": 0}, {"ms": 1, "device_id": None}, {"ms": 2}])
    by_device = _spec(Stat.COUNT, entity="device_id")
    by_account = _spec(Stat.COUNT)
    result = _compute(frame, by_device, by_account)
    assert _same(_column(result, by_device), [1.0, math.nan, 2.0])
    assert _column(result, by_account) == [1.0, 2.0, 3.0]


def test_entities_have_separate_windows(make_frame: Any) -> None:
    """Each account value has its own history."""
    frame = make_frame([{"ms": 0, "account_id": "a"}, {"ms": 1, "account_id": "b"}, {"ms": 2}])
    count = _spec(Stat.COUNT)
    assert _column(_compute(frame, count), count) == [1.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("history", "amount", "expected"),
    [
        ([10.0, 20.0], 25.0, 2.0),
        ([10.0], 25.0, math.nan),
        ([10.0, 10.0], 10.0, 0.0),
        ([10.0, 10.0], 10.01, 10.0),
        ([10.0, 10.0], 9.99, -10.0),
        ([10.0, 11.0], 1000.0, 10.0),
    ],
)
def test_zscore_compares_with_previous_amounts(
    make_frame: Any, history: list[float], amount: float, expected: float
) -> None:
    """z = (amount - mean) / population std of the previous amounts, in cents, clipped to ±10."""
    rows = [{"ms": i, "amount": a} for i, a in enumerate([*history, amount])]
    zscore = _spec(Stat.ZSCORE, window="1h")
    assert _same(_column(_compute(make_frame(rows), zscore), zscore)[-1:], [expected])


def test_huge_amounts_stay_exact(make_frame: Any) -> None:
    """Sums and z-scores beyond int64 squares still match the exact reference."""
    amounts = [999_999_999.9999, 999_999_999.9999, 123_456_789.1234, 1.0]
    frame = make_frame([{"ms": i, "amount": a} for i, a in enumerate(amounts)])
    total, zscore = _spec(Stat.SUM), _spec(Stat.ZSCORE)
    result = _compute(frame, total, zscore)
    assert result[total.name].iloc[1] == 1_999_999_999.9998


def test_per_transaction_features_use_utc_calendar(make_frame: Any) -> None:
    """Hour, weekday (Monday = 0), weekend (Sat/Sun), night (00-05 UTC) and amount."""
    saturday_1pm = (5 * 24 + 13) * 3_600_000
    frame = make_frame([{"ms": 0, "amount": 12.5}, {"ms": saturday_1pm, "amount": 3.0}])
    feature_set = FeatureSet(windowed=(), per_transaction=tuple(TransactionFeatureKind))
    result = compute_features(frame, feature_set)
    assert result.to_dict("list") == {
        "hour_of_day": [0.0, 13.0],
        "day_of_week": [0.0, 5.0],
        "is_weekend": [0.0, 1.0],
        "is_night": [1.0, 0.0],
        "amount": [12.5, 3.0],
    }


def test_result_has_the_feature_names_and_the_input_index(make_frame: Any) -> None:
    """Columns are feature_set.names (float64) and the index is the input's, row for row."""
    frame = make_frame([{"ms": 1}, {"ms": 0}]).set_axis(["late", "early"])
    feature_set = FeatureSet(
        windowed=(_spec(Stat.COUNT), _spec(Stat.SUM)),
        per_transaction=(TransactionFeatureKind.AMOUNT,),
    )
    result = compute_features(frame, feature_set)
    assert tuple(result.columns) == feature_set.names
    assert list(result.index) == ["late", "early"]
    assert set(result.dtypes) == {np.dtype("float64")}
    assert result.loc["late", "txn_count_by_account_1m"] == 2.0


def test_empty_frame_gives_empty_features(make_frame: Any) -> None:
    """No rows in, no rows out, with every feature column."""
    frame = make_frame([{"ms": 0}]).iloc[:0]
    feature_set = FeatureSet(windowed=(_spec(Stat.DISTINCT, of="device_id"),))
    result = compute_features(frame, feature_set)
    assert result.shape == (0, 1)


def test_object_columns_with_none_work_like_string_columns(make_frame: Any) -> None:
    """Entity columns may be object dtype with None for missing values."""
    frame = make_frame([{"ms": 0}, {"ms": 1, "device_id": None}, {"ms": 2}])
    frame["device_id"] = frame["device_id"].astype(object).where(frame["device_id"].notna(), None)
    count = _spec(Stat.COUNT, entity="device_id")
    assert _same(_column(_compute(frame, count), count), [1.0, math.nan, 2.0])


@pytest.mark.parametrize(
    ("change", "location"),
    [
        (lambda f: f.drop(columns=["device_id"]), "column device_id"),
        (lambda f: f.assign(timestamp=f["timestamp"].dt.tz_localize(None)), "column timestamp"),
        (lambda f: f.assign(amount=[1.0, float("nan")]), "row 1, column amount"),
        (lambda f: f.assign(amount=[1.0, -2.0]), "row 1, column amount"),
        (lambda f: f.assign(amount=["1", "2"]), "column amount"),
    ],
)
def test_unusable_input_is_rejected_with_its_location(
    make_frame: Any, change: Any, location: str
) -> None:
    """Missing columns, naive timestamps and bad amounts raise InvalidInputError naming where."""
    frame = change(make_frame([{"ms": 0}, {"ms": 1}]))
    feature_set = FeatureSet(windowed=(_spec(Stat.COUNT, entity="device_id"),))
    with pytest.raises(InvalidInputError) as raised:
        compute_features(frame, feature_set)
    assert location in [problem.location for problem in raised.value.problems]
