"""Hand-computed cases: the online store gives the offline semantics, bit for bit, in Redis."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from redis.asyncio import Redis

from features.definitions import FeatureSet, FeatureSpec, Stat, TransactionFeatureKind
from features.online import DEFAULT_KEY_PREFIX, OnlineFeatureStore
from features.reference import reference_features

MINUTE = 60_000


def _spec(stat: Stat, window: str = "1m", **kw: Any) -> FeatureSpec:
    return FeatureSpec(entity=kw.pop("entity", "account_id"), stat=stat, window=window, **kw)


async def _online(
    redis: Redis, kit: Any, frame: pd.DataFrame, *specs: FeatureSpec, batch: int = 2
) -> pd.DataFrame:
    """Record ``frame`` in arrival order (event time, ties in row order) in batches of ``batch``;
    check every value against the reference; return the online values indexed like ``frame``."""
    feature_set = FeatureSet(windowed=specs, per_transaction=tuple(TransactionFeatureKind))
    store = OnlineFeatureStore(redis, feature_set, bucketed={})
    await store.load_scripts()
    ordered = frame.sort_values("timestamp", kind="stable")
    txns = kit.transactions(ordered)
    vectors = []
    for start in range(0, len(txns), batch):
        vectors += await store.record_and_compute(txns[start : start + batch])
    assert all(v.spec_version == feature_set.version for v in vectors)
    online: pd.DataFrame = kit.vectors_frame(vectors, feature_set.names)
    online = online.set_axis(ordered.index).loc[frame.index]
    expected = reference_features(frame, feature_set)
    for name in feature_set.names:
        assert kit.same_bits(online[name], expected[name]).all(), name
    return online


def _column(result: pd.DataFrame, spec: FeatureSpec) -> list[float]:
    return [float(v) for v in result[spec.name]]


def _same(actual: list[float], expected: list[float]) -> bool:
    return len(actual) == len(expected) and all(
        (math.isnan(a) and math.isnan(e)) or a == e for a, e in zip(actual, expected, strict=True)
    )


async def test_window_excludes_its_open_start_and_includes_the_current_row(
    store_redis: Redis, kit: Any
) -> None:
    """A 1m window at t covers (t - 1m, t]: a row exactly 1m earlier is out, the row itself in."""
    frame = kit.frame([{"ms": 0}, {"ms": 30_000}, {"ms": MINUTE}, {"ms": MINUTE + 1}])
    count = _spec(Stat.COUNT)
    result = await _online(store_redis, kit, frame, count)
    assert _column(result, count) == [1.0, 2.0, 2.0, 3.0]


async def test_amount_sums_are_exact_decimal_sums(store_redis: Redis, kit: Any) -> None:
    """Sums are computed in 1e-4 units, so 0.1 + 0.2 is exactly 0.3 and the mean 0.15."""
    frame = kit.frame([{"ms": 0, "amount": 0.1}, {"ms": 1, "amount": 0.2}])
    total, mean, largest = _spec(Stat.SUM), _spec(Stat.MEAN), _spec(Stat.MAX)
    result = await _online(store_redis, kit, frame, total, mean, largest)
    assert _column(result, total) == [0.1, 0.3]
    assert _column(result, mean) == [0.1, 0.15]
    assert _column(result, largest) == [0.1, 0.2]


async def test_lagged_window_is_shifted_back_and_may_be_empty(store_redis: Redis, kit: Any) -> None:
    """With lag 1m a 1m window covers (t - 2m, t - 1m]; an empty one has count 0, mean missing."""
    frame = kit.frame([{"ms": ms, "amount": 1.0 + ms / MINUTE} for ms in range(0, 150_000, 30_000)])
    count, total = _spec(Stat.COUNT, lag="1m"), _spec(Stat.SUM, lag="1m")
    mean, largest = _spec(Stat.MEAN, lag="1m"), _spec(Stat.MAX, lag="1m")
    result = await _online(store_redis, kit, frame, count, total, mean, largest)
    assert _column(result, count) == [0.0, 0.0, 1.0, 2.0, 2.0]
    assert _column(result, total) == [0.0, 0.0, 1.0, 2.5, 3.5]
    assert _same(_column(result, mean), [math.nan, math.nan, 1.0, 1.25, 1.75])
    assert _same(_column(result, largest), [math.nan, math.nan, 1.0, 1.5, 2.0])


async def test_rows_at_equal_timestamps_see_the_earlier_arrivals(
    store_redis: Redis, kit: Any
) -> None:
    """Ties keep arrival order: each sees the ones recorded before it, even within one batch."""
    frame = kit.frame([{"ms": 5}, {"ms": 0}, {"ms": 5}, {"ms": 5}])
    count, since = _spec(Stat.COUNT), _spec(Stat.SECONDS_SINCE_LAST)
    result = await _online(store_redis, kit, frame, count, since, batch=4)
    assert _column(result, count) == [2.0, 1.0, 3.0, 4.0]
    assert _same(_column(result, since), [0.005, math.nan, 0.0, 0.0])


async def test_seconds_since_last_looks_only_inside_the_window(
    store_redis: Redis, kit: Any
) -> None:
    """The previous transaction must lie in (t - w, t]; exactly w earlier is too old."""
    frame = kit.frame([{"ms": 0}, {"ms": 1_500}, {"ms": 61_500}, {"ms": 121_499}])
    since = _spec(Stat.SECONDS_SINCE_LAST)
    result = await _online(store_redis, kit, frame, since)
    assert _same(_column(result, since), [math.nan, 1.5, math.nan, 59.999])


async def test_first_seen_and_distinct_follow_values_in_the_window(
    store_redis: Redis, kit: Any
) -> None:
    """first_seen is 1 for a value absent from the earlier rows (missing for a null value);
    distinct counts the window's different non-null values, the current row's included."""
    devices = ["d1", "d2", "d1", None, "d2", "d1", "d1"]
    times = [0, 10_000, 20_000, 30_000, 40_000, 80_001, 80_001]
    frame = kit.frame([{"ms": t, "device_id": d} for t, d in zip(times, devices, strict=True)])
    first = _spec(Stat.FIRST_SEEN, of="device_id")
    distinct = _spec(Stat.DISTINCT, of="device_id")
    result = await _online(store_redis, kit, frame, first, distinct, batch=3)
    assert _same(_column(result, first), [1.0, 1.0, 0.0, math.nan, 0.0, 1.0, 0.0])
    assert _column(result, distinct) == [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]


async def test_distinct_with_a_lag_ignores_the_current_value(store_redis: Redis, kit: Any) -> None:
    """A lagged window does not contain the current row, so its value is not counted."""
    frame = kit.frame([{"ms": 0, "merchant_id": "m1"}, {"ms": 90_000, "merchant_id": "m2"}])
    distinct = _spec(Stat.DISTINCT, lag="1m", of="merchant_id")
    first = _spec(Stat.FIRST_SEEN, lag="1m", of="merchant_id")
    result = await _online(store_redis, kit, frame, distinct, first)
    assert _column(result, distinct) == [0.0, 1.0]
    assert _column(result, first) == [1.0, 1.0]


async def test_null_entity_makes_its_features_missing_and_is_not_counted(
    store_redis: Redis, kit: Any
) -> None:
    """A row without a device has missing device features and is in no device's window."""
    frame = kit.frame([{"ms": 0}, {"ms": 1, "device_id": None}, {"ms": 2, "account_id": "b"}])
    by_device, by_account = _spec(Stat.COUNT, entity="device_id"), _spec(Stat.COUNT)
    result = await _online(store_redis, kit, frame, by_device, by_account)
    assert _same(_column(result, by_device), [1.0, math.nan, 2.0])
    assert _column(result, by_account) == [1.0, 2.0, 1.0]


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
async def test_zscore_compares_with_previous_amounts(
    store_redis: Redis, kit: Any, history: list[float], amount: float, expected: float
) -> None:
    """z = (amount - mean) / population std of the previous amounts, in cents, clipped to ±10."""
    frame = kit.frame([{"ms": i, "amount": a} for i, a in enumerate([*history, amount])])
    zscore = _spec(Stat.ZSCORE, window="1h")
    result = await _online(store_redis, kit, frame, zscore)
    assert _same(_column(result, zscore)[-1:], [expected])


async def test_huge_amounts_stay_exact_past_two_to_the_53(store_redis: Redis, kit: Any) -> None:
    """Sums above 2**53 units and squares of 1e11 cents come back exact from Lua (limbs)."""
    amounts = [999_999_999.9999] * 1_000 + [123_456_789.1234, 1.0, 0.0001]
    frame = kit.frame([{"ms": i, "amount": a} for i, a in enumerate(amounts)])
    total, mean, zscore = _spec(Stat.SUM), _spec(Stat.MEAN), _spec(Stat.ZSCORE)
    result = await _online(store_redis, kit, frame, total, mean, zscore, batch=256)
    units = 9_999_999_999_999 * 1_000
    assert units > 2**53
    assert result[total.name].iloc[999] == float(units) / 10_000


async def test_per_transaction_features_use_utc_calendar(store_redis: Redis, kit: Any) -> None:
    """Hour, weekday (Monday = 0), weekend (Sat/Sun), night (00-05 UTC) and amount."""
    saturday_1pm = (5 * 24 + 13) * 3_600_000
    frame = kit.frame([{"ms": 0, "amount": 12.5}, {"ms": saturday_1pm, "amount": 3.0}])
    result = await _online(store_redis, kit, frame, _spec(Stat.COUNT))
    assert result.drop(columns=["txn_count_by_account_1m"]).to_dict("list") == {
        "hour_of_day": [0.0, 13.0],
        "day_of_week": [0.0, 5.0],
        "is_weekend": [0.0, 1.0],
        "is_night": [1.0, 0.0],
        "amount": [12.5, 3.0],
    }


async def test_a_late_transaction_sees_only_rows_up_to_its_event_time(
    store_redis: Redis, kit: Any
) -> None:
    """Delivered after a later row, a transaction's window ends at its own event time, and
    every later arrival sees it (docs §3.2)."""
    frame = kit.frame([{"ms": 10_000}, {"ms": 5_000}, {"ms": 12_000}])
    feature_set = FeatureSet(windowed=(_spec(Stat.COUNT), _spec(Stat.SECONDS_SINCE_LAST)))
    store = OnlineFeatureStore(store_redis, feature_set)
    await store.load_scripts()
    first, *later = kit.transactions(frame)
    vectors = await store.record_and_compute([first])
    vectors += await store.record_and_compute(later)
    counts = [v.values["txn_count_by_account_1m"] for v in vectors]
    since = [v.values["txn_seconds_since_last_by_account_1m"] for v in vectors]
    assert counts == [1.0, 1.0, 3.0]
    assert since == [None, None, 2.0]


async def test_the_rows_of_one_call_are_recorded_in_event_time_order(
    store_redis: Redis, kit: Any
) -> None:
    """Rows given out of order in one call are recorded as if sorted by event time (ties in
    call order), and answered in call order."""
    frame = kit.frame([{"ms": 10_000}, {"ms": 5_000}, {"ms": 12_000}, {"ms": 5_000}])
    feature_set = FeatureSet(windowed=(_spec(Stat.COUNT), _spec(Stat.SECONDS_SINCE_LAST)))
    store = OnlineFeatureStore(store_redis, feature_set)
    vectors = await store.record_and_compute(kit.transactions(frame))
    counts = [v.values["txn_count_by_account_1m"] for v in vectors]
    since = [v.values["txn_seconds_since_last_by_account_1m"] for v in vectors]
    assert counts == [3.0, 1.0, 4.0, 2.0]
    assert since == [5.0, None, 2.0, 0.0]


async def test_compute_only_reads_without_recording(store_redis: Redis, kit: Any) -> None:
    """compute_only returns what recording would, and leaves Redis as it was."""
    frame = kit.frame([{"ms": 0}, {"ms": 1}])
    feature_set = FeatureSet(windowed=(_spec(Stat.COUNT), _spec(Stat.SUM)))
    store = OnlineFeatureStore(store_redis, feature_set)
    first, second = kit.transactions(frame)
    await store.record_and_compute([first])
    pattern = f"{DEFAULT_KEY_PREFIX}*"  # the session's engine may announce rule versions here
    before = {key: await store_redis.get(key) for key in await store_redis.keys(pattern)}
    peeked = await store.compute_only([second])
    after = {key: await store_redis.get(key) for key in await store_redis.keys(pattern)}
    assert peeked == await store.record_and_compute([second])
    assert after == before
    assert np.isclose(peeked[0].values["amount_sum_by_account_1m"] or 0.0, 20.0)
