"""Known labels in the online store: recorded in one round trip, counted point in time by the
next transactions' label-aware features, idempotent, and bounded in memory."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pandas as pd
from redis.asyncio import Redis

from core.alerts import AlertLabel
from core.labels import KnownLabel
from core.models import Transaction
from features.definitions import FeatureSet, FeatureSpec, Stat
from features.durations import event_time_ms
from features.offline import compute_features
from features.online import OnlineFeatureStore
from features.online_codec import decode_state

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

FRAUD_7D = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_COUNT, window="7d")
DELAYED = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_COUNT, window="7d", label_delay="1h")
SHARE = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_SHARE, window="7d")
BY_DEVICE = FeatureSpec(entity="device_id", stat=Stat.FRAUD_COUNT, window="7d")
BY_ACCOUNT = FeatureSpec(entity="account_id", stat=Stat.FRAUD_COUNT, window="1d")
SPECS = FeatureSet(windowed=(FRAUD_7D, DELAYED, SHARE, BY_DEVICE, BY_ACCOUNT))


def _txns(kit: Any, rows: list[dict[str, Any]]) -> list[Transaction]:
    txns: list[Transaction] = kit.transactions(kit.frame(rows))
    return txns


def _label(
    txn: Transaction, known_at: datetime, label: AlertLabel = AlertLabel.FRAUD
) -> KnownLabel:
    return KnownLabel(
        transaction_id=txn.transaction_id,
        label=label,
        known_at=known_at,
        source="api",
        account_id=txn.account_id,
        merchant_id=txn.merchant_id,
        device_id=txn.device_id,
        ip_address=txn.ip_address,
        event_time=txn.timestamp,
    )


async def _store(
    redis: Redis, feature_set: FeatureSet = SPECS, **options: Any
) -> OnlineFeatureStore:
    store = OnlineFeatureStore(redis, feature_set, key_prefix="lbl:", **options)
    await store.load_scripts()
    return store


async def _get(redis: Redis, key: str) -> bytes:
    value = await redis.get(key)
    assert isinstance(value, bytes), key
    return value


async def _value(store: OnlineFeatureStore, txn: Transaction, spec: FeatureSpec) -> float | None:
    (vector,) = await store.compute_only([txn])
    return vector.values[spec.name]


async def test_a_label_changes_the_next_transactions_features_within_a_second(
    store_redis: Redis, kit: Any
) -> None:
    """A fraud label recorded now counts in the very next transaction's features (one round
    trip, well under a second), for its merchant, device and account."""
    store = await _store(store_redis)
    first, second = _txns(kit, [{"ms": 0}, {"ms": 60_000}])
    (before,) = await store.record_and_compute([first])
    assert before.values[FRAUD_7D.name] == 0.0
    started = time.perf_counter()
    assert await store.record_labels([_label(first, first.timestamp)]) == 1
    (after,) = await store.record_and_compute([second])
    assert time.perf_counter() - started < 1.0
    assert after.values[FRAUD_7D.name] == 1.0
    assert after.values[SHARE.name] == 1.0
    assert after.values[BY_DEVICE.name] == 1.0
    assert after.values[BY_ACCOUNT.name] == 1.0
    assert after.values[DELAYED.name] == 0.0  # known only 1 min before, the delay is 1 h


async def test_a_label_recorded_twice_counts_once(store_redis: Redis, kit: Any) -> None:
    """The same label event again changes nothing: no key, no count."""
    store = await _store(store_redis)
    txns = _txns(kit, [{"ms": 0}, {"ms": 60_000}])
    await store.record_and_compute(txns[:1])
    label = _label(txns[0], txns[0].timestamp)
    assert await store.record_labels([label, label]) == 1
    keys = sorted(await store_redis.keys("lbl:*"))
    values = [await store_redis.get(key) for key in keys]
    assert await store.record_labels([label]) == 0
    assert [await store_redis.get(key) for key in keys] == values
    assert await _value(store, txns[1], FRAUD_7D) == 1.0


async def test_a_changed_verdict_moves_the_counts(store_redis: Redis, kit: Any) -> None:
    """fraud → legit removes the transaction from the counts, legit → fraud adds it back; the
    label known last wins whatever the order labels arrive in."""
    store = await _store(store_redis)
    first, probe = _txns(kit, [{"ms": 0}, {"ms": 3 * 86_400_000}])
    t0 = first.timestamp
    await store.record_and_compute([first])
    await store.record_labels([_label(first, t0 + HOUR)])
    assert await _value(store, probe, FRAUD_7D) == 1.0
    await store.record_labels([_label(first, t0 + 2 * HOUR, AlertLabel.LEGIT)])
    assert await _value(store, probe, FRAUD_7D) == 0.0
    await store.record_labels([_label(first, t0 + 30 * MINUTE)])  # older: the legit one stands
    assert await _value(store, probe, FRAUD_7D) == 0.0
    await store.record_labels([_label(first, t0 + 3 * HOUR)])
    assert await _value(store, probe, FRAUD_7D) == 1.0
    same_instant = [_label(first, t0 + 4 * HOUR), _label(first, t0 + 4 * HOUR, AlertLabel.LEGIT)]
    await store.record_labels(same_instant)  # of two at one instant the later wins
    assert await _value(store, probe, FRAUD_7D) == 0.0


async def test_a_fraud_counts_from_its_first_known_verdict(store_redis: Redis, kit: Any) -> None:
    """A fraud label confirmed later (a chargeback after an analyst's verdict) keeps counting
    from the first verdict; a label counts only from known-at + label_delay."""
    store = await _store(store_redis)
    first, early, late = _txns(kit, [{"ms": 0}, {"ms": 90 * 60_000}, {"ms": 150 * 60_000}])
    t0 = first.timestamp
    await store.record_and_compute([first])
    await store.record_labels([_label(first, t0 + 2 * HOUR)])  # the chargeback, arriving first
    assert (await _value(store, early, FRAUD_7D), await _value(store, late, FRAUD_7D)) == (0.0, 1.0)
    await store.record_labels([_label(first, t0 + 30 * MINUTE)])  # the analyst's, earlier
    assert await _value(store, early, FRAUD_7D) == 1.0
    assert await _value(store, early, DELAYED) == 1.0  # known 30 min + 1 h delay <= 90 min
    assert await _value(store, late, DELAYED) == 1.0


async def test_online_label_features_equal_the_offline_ones(store_redis: Redis, kit: Any) -> None:
    """Labels arriving between transactions give the offline values, counts and shares alike,
    with lags, delays, null devices and a bucketed merchant's exact fraud_count."""
    rows = [
        {
            "ms": i * 20 * 60_000,
            "merchant_id": f"m{i % 3}",
            "device_id": f"d{i % 4}" if i % 5 else None,
        }
        for i in range(60)
    ]
    frauds = {3: 0, 7: 40, 8: 200, 20: 0, 31: 90, 44: 10}  # row -> minutes until known
    frame = kit.frame(rows)
    frame["label"] = [1 if i in frauds else 0 for i in range(len(rows))]
    known = [
        frame["timestamp"][i] + pd.Timedelta(minutes=frauds[i]) if i in frauds else pd.NaT
        for i in range(len(rows))
    ]
    frame["label_known_at"] = pd.to_datetime(pd.Series(known, dtype="datetime64[us, UTC]"))
    feature_set = FeatureSet(
        windowed=(
            FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_COUNT, window="2h"),
            FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_SHARE, window="3h", label_delay="1h"),
            FeatureSpec(entity="merchant_id", stat=Stat.COUNT, window="1h"),
            FeatureSpec(entity="device_id", stat=Stat.FRAUD_SHARE, window="4h", lag="1h"),
            FeatureSpec(entity="account_id", stat=Stat.FRAUD_COUNT, window="10h", label_delay="2h"),
        )
    )
    store = await _store(store_redis, feature_set, bucketed={})
    txns = _txns(kit, rows)
    vectors = []
    for i, txn in enumerate(txns):
        vectors += await store.record_and_compute([txn])
        if i in frauds:
            await store.record_labels([_label(txn, txn.timestamp + frauds[i] * MINUTE)])
        elif i % 6 == 0:
            await store.record_labels([_label(txn, txn.timestamp, AlertLabel.LEGIT)])
    online = kit.vectors_frame(vectors, feature_set.names)
    offline = compute_features(frame, feature_set)
    for name in feature_set.names:
        assert kit.same_bits(online[name], offline[name]).all(), name
    assert offline["fraud_count_by_account_10h_delay2h"].max() >= 2.0


async def test_known_frauds_are_small_ordered_and_expire(store_redis: Redis, kit: Any) -> None:
    """An account with fraud_count alone keeps only known frauds in its state: (age, wait) per
    fraud, ascending, dropped past the label retention; the state and the label records expire,
    and a state left empty is deleted."""
    store = await _store(store_redis, FeatureSet(windowed=(BY_ACCOUNT,)), max_lateness=HOUR)
    txns = _txns(kit, [{"ms": 0}, {"ms": 3_600_000}, {"ms": 2 * 86_400_000}])
    await store.record_and_compute(txns)
    assert await store_redis.keys("lbl:s:*") == []  # no transaction history to keep
    await store.record_labels([_label(txns[1], txns[1].timestamp + MINUTE)])
    await store.record_labels([_label(txns[0], txns[0].timestamp)])
    key = store.keys.state_key(store.plan, 0, "a")
    hour = event_time_ms(txns[1].timestamp)
    assert decode_state(await _get(store_redis, key), 4) == [
        [1, hour, hour],
        [],
        [],
        [3_600_000, 0, 0, 60_000],
    ]
    keep = store.plan.entities[0].label_keep_ms
    assert keep == 25 * 3_600_000
    assert 0 < await store_redis.pttl(key) <= keep
    record = store.keys.label_key(txns[0].transaction_id)
    assert msgspec.msgpack.decode(await _get(store_redis, record)) == [
        event_time_ms(txns[0].timestamp),
        1,
    ]
    assert 0 < await store_redis.pttl(record) <= keep
    await store.record_labels([_label(txns[2], txns[2].timestamp)])  # 2 days later: prunes
    assert decode_state(await _get(store_redis, key), 4)[3] == [0, 0]
    await store.record_labels([_label(txns[2], txns[2].timestamp + MINUTE, AlertLabel.LEGIT)])
    assert await store_redis.exists(key) == 0


async def test_known_frauds_ride_along_the_transaction_history(
    store_redis: Redis, kit: Any
) -> None:
    """A merchant's known frauds are a last part of its state: transactions recorded later keep
    them, and a verdict taking the last one back leaves the history (three transactions)."""
    count = FeatureSpec(entity="merchant_id", stat=Stat.COUNT, window="1h")
    store = await _store(store_redis, FeatureSet(windowed=(count, FRAUD_7D)), bucketed={})
    txns = _txns(kit, [{"ms": 0}, {"ms": 60_000}, {"ms": 120_000}])
    await store.record_and_compute(txns[:2])
    key = store.keys.state_key(store.plan, 0, "m1")
    await store.record_labels([_label(txns[0], txns[0].timestamp)])
    head, _, _, known = decode_state(await _get(store_redis, key), 4)
    assert (head, known) == (
        [1, 60_000 + event_time_ms(txns[0].timestamp), head[1] - 60_000],
        [0, 0],
    )
    (vector,) = await store.record_and_compute(txns[2:])
    assert vector.values == {count.name: 3.0, FRAUD_7D.name: 1.0}
    assert decode_state(await _get(store_redis, key), 4)[3] == [0, 0]
    await store.record_labels([_label(txns[0], txns[2].timestamp, AlertLabel.LEGIT)])
    head, _, events = decode_state(await _get(store_redis, key), 3)
    assert len(head) == 2
    assert events == [120_000, 100_000, 60_000, 100_000, 0, 100_000]  # the three transactions


async def test_a_bucketed_share_rounds_both_parts_to_whole_buckets(
    store_redis: Redis, kit: Any
) -> None:
    """On a bucketed merchant fraud_share counts frauds and rows over the same whole buckets, so
    it stays a share; fraud_count stays exact."""
    share = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_SHARE, window="1h")
    count = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_COUNT, window="1h")
    store = await _store(store_redis, FeatureSet(windowed=(share, count)), bucketed={"merchant": 4})
    txns = _txns(kit, [{"ms": 0}, {"ms": 20 * 60_000}, {"ms": 30 * 60_000}, {"ms": 70 * 60_000}])
    await store.record_and_compute(txns[:3])
    await store.record_labels([_label(txns[0], txns[0].timestamp)])
    await store.record_labels([_label(txns[1], txns[1].timestamp)])
    (vector,) = await store.compute_only(txns[3:])
    # the window (10 min, 70 min] rounds to the buckets from 15 min: rows at 20 and 30 min
    assert vector.values[share.name] == 0.5
    assert vector.values[count.name] == 1.0


async def test_missing_entities_and_stores_without_label_specs(
    store_redis: Redis, kit: Any
) -> None:
    """A null device gives None; a store without label-aware specs ignores labels (no call)."""
    store = await _store(store_redis)
    (txn,) = _txns(kit, [{"ms": 0, "device_id": None}])
    (vector,) = await store.record_and_compute([txn])
    assert vector.values[BY_DEVICE.name] is None
    assert await store.record_labels([_label(txn, txn.timestamp)]) == 1
    plain = await _store(
        store_redis,
        FeatureSet(windowed=(FeatureSpec(entity="account_id", stat=Stat.COUNT, window="1h"),)),
    )
    assert not plain.labelled
    assert await plain.record_labels([_label(txn, txn.timestamp)]) == 0


async def test_the_label_script_is_reloaded_after_redis_forgets_it(
    store_redis: Redis, kit: Any
) -> None:
    """After SCRIPT FLUSH recording labels reloads the scripts and succeeds."""
    store = await _store(store_redis)
    (txn,) = _txns(kit, [{"ms": 0}])
    await store_redis.script_flush()
    assert await store.record_labels([_label(txn, txn.timestamp)]) == 1
