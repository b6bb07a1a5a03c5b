"""Parity: a generated stream replayed through Redis gives the offline features.

Exact features must be bit-identical with :func:`features.offline.compute_features`; the bucketed
(approximate) merchant counts must equal the count over the window rounded to whole buckets, the
approximation documented in docs/features.md §7.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from redis.asyncio import Redis

from features.definitions import FeatureSpec
from features.offline import compute_features, event_times_ms
from features.online import OnlineFeatureStore
from features.online_plan import DEFAULT_BUCKETS_PER_WINDOW, StateMode
from features.spec import default_feature_set
from training.generate import generate_dataset

BATCH = 64


@pytest.fixture(scope="module")
def stream() -> pd.DataFrame:
    """About 8,000 generated transactions (120 accounts, 35 days), in timestamp order."""
    df = generate_dataset(accounts=120, days=35, seed=11)
    assert df["timestamp"].is_monotonic_increasing
    return df


def bucketed_counts(df: pd.DataFrame, spec: FeatureSpec, buckets: int) -> npt.NDArray[np.float64]:
    """The documented approximation of a lag-free count: rows of the same entity that arrived no
    later than the row, from the first bucket boundary after ``t - window`` up to ``t``."""
    times = event_times_ms(df)
    codes = pd.factorize(df[spec.entity])[0].astype(np.int64)
    size = spec.window_ms // buckets
    boundary = ((times - spec.window_ms) // size + 1) * size
    stride = int(times.max() - boundary.min()) + 1
    keys = codes * stride + (times - boundary.min())
    order = np.lexsort((np.arange(len(df)), keys))
    sorted_keys = keys[order]
    first = np.searchsorted(sorted_keys, codes[order] * stride + (boundary[order] - boundary.min()))
    counts = np.empty(len(df), dtype=np.float64)
    counts[order] = np.arange(len(df)) - first + 1
    return counts


@pytest.mark.slow
async def test_replayed_stream_matches_the_offline_features(
    store_redis: Redis, kit: Any, stream: pd.DataFrame
) -> None:
    """Every exact feature equals the offline value bit for bit; bucketed ones follow their
    documented approximation and never exceed the exact count."""
    feature_set = default_feature_set()
    offline = compute_features(stream, feature_set)
    store = OnlineFeatureStore(store_redis, feature_set)
    await store.load_scripts()
    txns = kit.transactions(stream)
    vectors = []
    for start in range(0, len(txns), BATCH):
        vectors += await store.record_and_compute(txns[start : start + BATCH])
    online = kit.vectors_frame(vectors, feature_set.names).set_axis(stream.index)

    bucketed = {
        slot.name: slot.spec
        for entity in store.plan.entities
        if entity.mode is StateMode.BUCKETED
        for slot in entity.specs
    }
    assert set(bucketed) == {"txn_count_by_merchant_1h", "txn_count_by_merchant_24h"}
    mismatched = {
        name: float(np.nanmax(np.abs(online[name] - offline[name])))
        for name in feature_set.names
        if name not in bucketed and not kit.same_bits(online[name], offline[name]).all()
    }
    assert mismatched == {}
    for name, spec in bucketed.items():
        expected = bucketed_counts(stream, spec, DEFAULT_BUCKETS_PER_WINDOW)
        assert (online[name].to_numpy() == expected).all(), name
        assert (online[name] <= offline[name]).all(), name
