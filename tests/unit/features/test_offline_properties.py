"""The vectorized computation equals the plain-loop reference and never looks ahead."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.definitions import FeatureSet, FeatureSpec, Stat, TransactionFeatureKind
from features.offline import compute_features
from features.reference import reference_features
from features.spec import default_feature_set


def _every_stat(entity: str, other: str, window: str, lag: str | None) -> list[FeatureSpec]:
    return [
        FeatureSpec(
            entity=entity, stat=stat, window=window, lag=lag, of=other if stat.needs_of else None
        )
        for stat in Stat
    ]


SMALL_WINDOWS = FeatureSet(
    windowed=tuple(
        spec
        for entity, other in (("account_id", "device_id"), ("device_id", "merchant_id"))
        for window, lag in (("1s", None), ("3s", None), ("2s", "1s"))
        for spec in _every_stat(entity, other, window, lag)
    ),
    per_transaction=tuple(TransactionFeatureKind),
)
"""Every statistic, with and without a lag, over windows short enough for the test data."""

AMOUNTS = st.sampled_from([0.01, 0.1, 0.2, 1.0, 2.5, 10.0, 99.99, 1234.5678, 250_000.0])
ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "ms": st.integers(0, 24).map(lambda step: step * 250),
            "account_id": st.sampled_from(["a", "b"]),
            "amount": AMOUNTS,
            "merchant_id": st.sampled_from(["m1", "m2", "m3"]),
            "device_id": st.sampled_from(["d1", "d2", None]),
        }
    ),
    max_size=30,
)


def _assert_identical(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)


@settings(deadline=None, max_examples=150)
@given(rows=ROWS)
def test_offline_equals_reference_on_generated_streams(make_frame: Any, rows: list[Any]) -> None:
    """Bit for bit, with ties, nulls, lags and every statistic."""
    frame = make_frame(rows)
    _assert_identical(
        compute_features(frame, SMALL_WINDOWS), reference_features(frame, SMALL_WINDOWS)
    )


@settings(deadline=None, max_examples=100)
@given(rows=ROWS, later=ROWS)
def test_appending_later_rows_never_changes_earlier_features(
    make_frame: Any, rows: list[Any], later: list[Any]
) -> None:
    """Rows appended with timestamps at or after every existing one leave earlier rows alone."""
    last = max((row["ms"] for row in rows), default=0)
    appended = [{**row, "ms": last + row["ms"]} for row in later]
    before = compute_features(make_frame(rows), SMALL_WINDOWS)
    after = compute_features(make_frame([*rows, *appended]), SMALL_WINDOWS)
    _assert_identical(after.iloc[: len(rows)], before)


def test_default_features_equal_reference_on_random_data(make_frame: Any) -> None:
    """The shipped feature set over three days of seeded random traffic matches the reference."""
    rng = np.random.default_rng(20240101)
    size = 600
    rows = [
        {
            "ms": int(ms),
            "account_id": f"a{rng.integers(0, 15)}",
            "amount": float(rng.integers(1, 2_000_000)) / 100,
            "merchant_id": f"m{rng.integers(0, 8)}",
            "country": str(rng.choice(["FR", "DE", "US"])),
            "device_id": None if rng.random() < 0.2 else f"d{rng.integers(0, 10)}",
            "ip_address": None if rng.random() < 0.5 else f"10.0.0.{rng.integers(0, 4)}",
        }
        for ms in rng.integers(0, 3 * 86_400_000, size) // 30_000 * 30_000
    ]
    frame = make_frame(rows)
    feature_set = default_feature_set()
    result = compute_features(frame, feature_set)
    _assert_identical(result, reference_features(frame, feature_set))
    assert result.notna().all().sum() > len(feature_set.names) // 2
