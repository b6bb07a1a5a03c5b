"""Parity: a generated stream replayed through Redis, with labels arriving between transactions,
gives the offline features.

Exact features must be bit-identical with :func:`features.offline.compute_features` (label-aware
ones included: the offline side reads the stream's ``label`` and ``label_known_at``); the bucketed
(approximate) merchant counts must equal the count over the window rounded to whole buckets, and a
bucketed fraud_share the share over those buckets, the approximation documented in
docs/features.md §7.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from redis.asyncio import Redis

from core.alerts import AlertLabel
from core.labels import KnownLabel
from core.models import FeatureVector, Transaction
from features.definitions import FeatureSet, FeatureSpec, Stat
from features.durations import event_time_ms
from features.offline import compute_features, event_times_ms, known_fraud
from features.online import OnlineFeatureStore
from features.online_plan import DEFAULT_BUCKETS_PER_WINDOW, StateMode
from features.spec import default_feature_set
from training.generate import generate_dataset

BATCH = 64
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def stream() -> pd.DataFrame:
    """About 8,000 generated transactions (120 accounts, 35 days), in timestamp order; a fraud's
    label is known 0 to 3 days after it (a fifth of them without label_known_at: at once)."""
    df = generate_dataset(accounts=120, days=35, seed=11)
    assert df["timestamp"].is_monotonic_increasing
    rng = np.random.default_rng(11)
    wait = pd.to_timedelta(rng.integers(0, 3 * DAY_MS, len(df)), unit="ms")
    stated = (df["label"] == 1) & (rng.random(len(df)) < 0.8)
    df["label_known_at"] = (df["timestamp"] + wait).where(stated)
    assert int(df["label"].sum()) > 40
    return df


def stream_labels(stream: pd.DataFrame, txns: Sequence[Transaction]) -> list[list[KnownLabel]]:
    """Per row, the labels sent once it is recorded: each fraud's (twice: a client resending),
    and a legit verdict on every 25th legitimate row."""
    fraud, known_ms = known_fraud(stream, event_times_ms(stream))
    labels: list[list[KnownLabel]] = [[] for _ in txns]
    for i, txn in enumerate(txns):
        if fraud[i] or i % 25 == 0:
            known_at = pd.Timestamp(int(known_ms[i]), unit="ms", tz="UTC").to_pydatetime()
            label = KnownLabel(
                transaction_id=txn.transaction_id,
                label=AlertLabel.FRAUD if fraud[i] else AlertLabel.LEGIT,
                known_at=known_at,
                source="api",
                account_id=txn.account_id,
                merchant_id=txn.merchant_id,
                device_id=txn.device_id,
                ip_address=txn.ip_address,
                event_time=txn.timestamp,
            )
            labels[i] = [label, label] if fraud[i] else [label]
    return labels


async def replay(
    store: OnlineFeatureStore, txns: Sequence[Transaction], labels: Sequence[list[KnownLabel]]
) -> tuple[list[FeatureVector], int]:
    """Record ``txns`` in order, in batches of at most BATCH; after each batch, send its rows'
    labels in one call. A batch ends early before a row that one of its own labels could count
    for (known-at + the shortest label delay <= the row's event time), so every label reaches
    the store before any transaction that could see it. Returns the vectors and the label calls."""
    delay = min(s.label_delay_ms for s in store.feature_set.windowed if s.stat.is_label_aware)
    vectors: list[FeatureVector] = []
    batch: list[Transaction] = []
    pending: list[KnownLabel] = []
    needed_at, calls = math.inf, 0
    for txn, own in zip(txns, labels, strict=True):
        if batch and (len(batch) == BATCH or needed_at <= event_time_ms(txn.timestamp)):
            vectors += await store.record_and_compute(batch)
            if pending:
                await store.record_labels(pending)
                calls += 1
            batch, pending, needed_at = [], [], math.inf
        batch.append(txn)
        pending += own
        for label in own:
            needed_at = min(needed_at, event_time_ms(label.known_at) + delay)
    vectors += await store.record_and_compute(batch)
    await store.record_labels(pending)
    return vectors, calls + 1


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


def bucketed_shares(
    df: pd.DataFrame, spec: FeatureSpec, buckets: int, counts: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The documented approximation of a lag-free fraud_share on a bucketed entity: known frauds
    over the previous rows, both from the first bucket boundary after ``t - window`` on
    (``counts``: the rounded window's rows, the row itself included)."""
    times = event_times_ms(df)
    fraud, known_ms = known_fraud(df, times)
    size = spec.window_ms // buckets
    frauds: dict[Any, list[int]] = defaultdict(list)  # entity value -> earlier fraud rows
    shares = np.empty(len(df), dtype=np.float64)
    for i, value in enumerate(df[spec.entity]):
        boundary = ((times[i] - spec.window_ms) // size + 1) * size
        known = sum(
            1
            for j in frauds[value]
            if times[j] >= boundary and known_ms[j] + spec.label_delay_ms <= times[i]
        )
        previous = counts[i] - 1
        shares[i] = known / previous if previous > 0 else math.nan
        if fraud[i]:
            frauds[value].append(i)
    return shares


def label_heavy_set() -> FeatureSet:
    """Label-aware features without delay or with short ones, so labels count within batches
    (the merchant's are all bucketable: bucketed by default, with lag-free shares)."""
    specs = [
        FeatureSpec(entity=entity, stat=stat, window=window, lag=lag, label_delay=delay)
        for entity in ("merchant_id", "account_id", "device_id", "ip_address")
        for stat in (Stat.FRAUD_COUNT, Stat.FRAUD_SHARE)
        for window, lag, delay in (("1d", None, None), ("7d", None, "6h"), ("3d", "1d", None))
        if not (entity == "merchant_id" and stat is Stat.FRAUD_SHARE and lag is not None)
    ]
    return FeatureSet(windowed=tuple(specs))


DEFAULT = default_feature_set()
LABELS = label_heavy_set()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("feature_set", "bucketed"),
    [(DEFAULT, None), (DEFAULT, {}), (LABELS, None), (LABELS, {})],
    ids=["default", "default-exact", "labels-bucketed", "labels-exact"],
)
async def test_replayed_stream_matches_the_offline_features(
    store_redis: Redis,
    kit: Any,
    stream: pd.DataFrame,
    feature_set: FeatureSet,
    bucketed: dict[str, int] | None,
) -> None:
    """Every exact feature equals the offline value bit for bit, label-aware ones included, with
    labels arriving between transactions; bucketed ones follow their documented approximation
    and bucketed counts never exceed the exact count."""
    offline = compute_features(stream, feature_set)
    store = OnlineFeatureStore(store_redis, feature_set, bucketed=bucketed)
    await store.load_scripts()
    txns = kit.transactions(stream)
    vectors, label_calls = await replay(store, txns, stream_labels(stream, txns))
    assert label_calls > len(txns) // BATCH
    online = kit.vectors_frame(vectors, feature_set.names).set_axis(stream.index)

    approximate = {
        slot.name: slot.spec
        for entity in store.plan.entities
        if entity.mode is StateMode.BUCKETED
        for slot in entity.history
    }
    if feature_set is DEFAULT and bucketed is None:
        assert set(approximate) == {"txn_count_by_merchant_1h", "txn_count_by_merchant_24h"}
    mismatched = {
        name: float(np.nanmax(np.abs(online[name] - offline[name])))
        for name in feature_set.names
        if name not in approximate and not kit.same_bits(online[name], offline[name]).all()
    }
    assert mismatched == {}
    for name, spec in approximate.items():
        counts = bucketed_counts(stream, spec, DEFAULT_BUCKETS_PER_WINDOW)
        if spec.stat is Stat.COUNT:
            assert (online[name].to_numpy() == counts).all(), name
            assert (online[name] <= offline[name]).all(), name
        else:
            expected = bucketed_shares(stream, spec, DEFAULT_BUCKETS_PER_WINDOW, counts)
            assert kit.same_bits(online[name], pd.Series(expected)).all(), name
    label_aware = [s.name for s in feature_set.windowed if s.stat is Stat.FRAUD_COUNT]
    assert offline[label_aware].max().max() >= 2.0
