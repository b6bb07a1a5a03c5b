"""The online store's guarantees in Redis: idempotency, bounded memory, expiry, script reloads,
serialized writers, and errors when Redis is away."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core.errors import ConflictError, DependencyUnavailableError
from core.models import FeatureVector, Transaction
from core.payload import PayloadConflict, payload_digest
from features.definitions import FeatureSet, FeatureSpec, Stat, TransactionFeatureKind
from features.online import DEFAULT_KEY_PREFIX, OnlineFeatureStore, create_online_store
from features.online_codec import decode_state
from features.online_plan import StateMode
from features.spec import default_feature_set

HOUR = 3_600_000
DAY = 24 * HOUR


async def _snapshot(redis: Redis) -> dict[bytes | str, bytes]:
    """Every key of the store (the session's engine may announce rule versions in this DB)."""
    keys = await redis.keys(f"{DEFAULT_KEY_PREFIX}*")
    return {key: await _get(redis, key) for key in sorted(keys)}


async def _get(redis: Redis, key: bytes | str) -> bytes:
    value = await redis.get(key)
    assert isinstance(value, bytes), key
    return value


def _stream(kit: Any, count: int, step_ms: int, **fields: Any) -> list[Transaction]:
    rows = [
        {"ms": i * step_ms, "amount": 1.0 + i % 7, "merchant_id": f"m{i % 5}", **fields}
        for i in range(count)
    ]
    txns: list[Transaction] = kit.transactions(kit.frame(rows))
    return txns


async def test_a_retried_transaction_gets_its_first_features_and_changes_nothing(
    store_redis: Redis, kit: Any
) -> None:
    """Replaying recorded ids with the same payload (timestamp aside) returns the first vectors
    and leaves every key as it was."""
    store = OnlineFeatureStore(store_redis, default_feature_set())
    txns = _stream(kit, 12, 60_000, device_id="d1", ip_address="192.0.2.1")
    first = await store.record_and_compute(txns[:6])
    first += await store.record_and_compute(txns[6:])
    before = await _snapshot(store_redis)
    moved = [msgspec.structs.replace(t, timestamp=t.timestamp + timedelta(days=1)) for t in txns]
    assert await store.record_and_compute(txns[::-1]) == first[::-1]
    assert await store.record_and_compute(moved) == first
    assert await _snapshot(store_redis) == before


async def test_a_recorded_id_with_another_payload_is_a_conflict_and_changes_nothing(
    store_redis: Redis, kit: Any
) -> None:
    """An id recorded earlier comes back as a PayloadConflict when its payload differs; the
    other rows of the call are recorded as usual and the conflicting one changes no key."""
    store = OnlineFeatureStore(store_redis, default_feature_set())
    one, two, three = _stream(kit, 3, 60_000)
    (first,) = await store.record_and_compute([one])
    before = await _snapshot(store_redis)
    reused = msgspec.structs.replace(one, amount=one.amount * 3)
    assert await store.record_each([reused]) == [PayloadConflict(transaction_id=one.transaction_id)]
    assert await store.compute_only([one]) == [first]
    assert await _snapshot(store_redis) == before
    with pytest.raises(ConflictError, match="different payload") as raised:
        await store.record_and_compute([two, reused])
    assert [p.location for p in raised.value.problems] == [f"transaction_id {one.transaction_id!r}"]
    (after,) = await store.record_and_compute([three])
    assert after.values["txn_count_by_account_1h"] == 3.0  # one and two, then three


async def test_the_first_payload_of_an_id_within_one_batch_wins(
    store_redis: Redis, kit: Any
) -> None:
    """Two payloads of one id in a batch: the earlier event is recorded, the other is a
    conflict, and the next row counts one transaction before it."""
    feature_set = FeatureSet(
        windowed=(FeatureSpec(entity="account_id", stat=Stat.SUM, window="1h"),)
    )
    store = OnlineFeatureStore(store_redis, feature_set)
    one, two = _stream(kit, 2, 1_000)
    other = msgspec.structs.replace(one, amount=one.amount * 5, timestamp=two.timestamp)
    rows = await store.record_each([other, one, two])
    assert rows[0] == PayloadConflict(transaction_id=one.transaction_id)
    assert [r.values for r in rows[1:] if isinstance(r, FeatureVector)] == [
        {"amount_sum_by_account_1h": 1.0},
        {"amount_sum_by_account_1h": 3.0},
    ]


async def test_an_idempotency_record_is_the_payload_digest_then_the_row(
    store_redis: Redis, kit: Any
) -> None:
    """The record holds the 8-byte payload digest (a MessagePack bin 8) before the reply row."""
    store = OnlineFeatureStore(store_redis, default_feature_set())
    (txn,) = _stream(kit, 1, 0)
    await store.record_and_compute([txn])
    record = await _get(store_redis, store.keys.transaction_key(txn.transaction_id))
    assert record[:2] == b"\xc4\x08"
    assert record[2:10] == payload_digest(txn)
    assert msgspec.msgpack.decode(record[10:])[0] == store.plan.plan_id


async def test_a_record_written_without_a_digest_still_answers_a_retry(
    store_redis: Redis, kit: Any
) -> None:
    """A record from before digests were kept (the bare row) is returned as it is, whatever the
    payload: it cannot be compared, and nothing is recorded twice."""
    store = OnlineFeatureStore(store_redis, default_feature_set())
    (txn,) = _stream(kit, 1, 0)
    (first,) = await store.record_and_compute([txn])
    key = store.keys.transaction_key(txn.transaction_id)
    await store_redis.set(key, (await _get(store_redis, key))[10:])
    before = await _snapshot(store_redis)
    changed = msgspec.structs.replace(txn, amount=txn.amount * 2)
    assert await store.record_and_compute([changed]) == [first]
    assert await _snapshot(store_redis) == before


async def test_a_repeated_id_within_one_batch_counts_once(store_redis: Redis, kit: Any) -> None:
    """The second copy of an id in a batch gets the first copy's features; the next row sees
    one transaction before it."""
    feature_set = FeatureSet(
        windowed=(FeatureSpec(entity="account_id", stat=Stat.COUNT, window="1h"),)
    )
    store = OnlineFeatureStore(store_redis, feature_set)
    one, two = _stream(kit, 2, 1_000)
    vectors = await store.record_and_compute([one, one, two])
    assert [v.values["txn_count_by_account_1h"] for v in vectors] == [1.0, 1.0, 2.0]


async def test_account_state_keeps_only_the_longest_window_and_expires(
    store_redis: Redis, kit: Any
) -> None:
    """After 40 days of a transaction every 2 hours the account state holds the last 30 days
    plus the lateness margin, stays small, and expires one retention period after the write."""
    store = OnlineFeatureStore(store_redis, default_feature_set(), key_prefix="p:")
    txns = _stream(kit, 480, 2 * HOUR, account_id="acct-1", device_id="dev-1")
    for start in range(0, len(txns), 64):
        await store.record_and_compute(txns[start : start + 64])
    (key,) = await store_redis.keys("p:s:account:*")
    head, values, events = decode_state(await _get(store_redis, key), 3)
    assert head[0] == StateMode.EXACT
    assert set(values) == {"m0", "m1", "m2", "m3", "m4", "FR", "dev-1"}
    assert len(events) % 5 == 0  # per event: age, units, 3 of-value ids
    # the newest event: age 0, amount 4.0 EUR in base-currency units (4.3478 USD)
    assert events[-5:-3] == [0, 43_478]
    assert events[-10] == 2 * HOUR  # the one before it, two hours older
    events = len(events) // 5
    assert events == (30 * DAY + HOUR) // (2 * HOUR) + 1  # the kept span (t - keep, t], no more
    entity = store.plan.entities[0]
    assert entity.keep_ms == 30 * DAY + HOUR
    assert 0 < await store_redis.pttl(key) <= entity.keep_ms
    assert (await store_redis.memory_usage(key) or 0) < 16 * events + 256

    later = _stream(kit, 1, 0, account_id="acct-1", device_id="dev-1")[0]
    far = msgspec.structs.replace(
        later, transaction_id="late", timestamp=txns[-1].timestamp + timedelta(days=31, hours=2)
    )
    (vector,) = await store.record_and_compute([far])
    assert vector.values["txn_count_by_account_30d"] == 1.0
    head, values, events = decode_state(await _get(store_redis, key), 3)
    assert values == ["m0", "FR", "dev-1"]  # only the values of the one event left
    assert events == [0, 10_870, 1, 2, 3]  # 1.0 EUR = 1.0870 USD, in base-currency units
    assert 0 < await store_redis.pttl(store.keys.transaction_key("late")) <= DAY


async def test_a_transaction_older_than_the_retention_is_not_kept(
    store_redis: Redis, kit: Any
) -> None:
    """A transaction later than max_lateness gets its features but leaves the state as it was;
    the state key expires one retention period after the last write."""
    spec = FeatureSpec(entity="account_id", stat=Stat.COUNT, window="1s")
    store = OnlineFeatureStore(store_redis, FeatureSet(windowed=(spec,)), max_lateness=timedelta(0))
    new, old = _stream(kit, 2, 0)
    old = msgspec.structs.replace(old, timestamp=new.timestamp - timedelta(seconds=5))
    await store.record_and_compute([new])
    (key,) = await store_redis.keys("*:s:*")
    assert 0 < await store_redis.pttl(key) <= 1_000
    before = await _get(store_redis, key)
    (vector,) = await store.record_and_compute([old])
    assert vector.values == {"txn_count_by_account_1s": 1.0}
    assert await _get(store_redis, key) == before


async def test_the_script_is_reloaded_after_redis_forgets_it(store_redis: Redis, kit: Any) -> None:
    """After SCRIPT FLUSH (as after a restart) the next call reloads the script and succeeds."""
    store = OnlineFeatureStore(store_redis, default_feature_set())
    await store.load_scripts()
    await store_redis.script_flush()
    vectors = await store.record_and_compute(_stream(kit, 3, 1_000))
    assert [v.values["txn_count_by_account_1m"] for v in vectors] == [1.0, 2.0, 3.0]
    assert await store.ping()


async def test_concurrent_writers_are_serialized(store_redis: Redis, kit: Any) -> None:
    """Two clients recording the same account at the same instant see each other exactly once:
    the counts are 1..N in some order."""
    feature_set = FeatureSet(
        windowed=(FeatureSpec(entity="account_id", stat=Stat.COUNT, window="1h"),)
    )
    pool = store_redis.connection_pool
    other_client = Redis.from_pool(
        ConnectionPool(connection_class=pool.connection_class, **pool.connection_kwargs)
    )
    stores = [OnlineFeatureStore(c, feature_set) for c in (store_redis, other_client)]
    txns = _stream(kit, 40, 0)
    results = await asyncio.gather(
        *(stores[i % 2].record_and_compute([txn]) for i, txn in enumerate(txns))
    )
    await other_client.aclose()
    counts = sorted(v[0].values["txn_count_by_account_1h"] or 0.0 for v in results)
    assert counts == [float(n) for n in range(1, 41)]


async def test_a_retry_after_the_feature_set_changed_is_not_recorded_again(
    store_redis: Redis, kit: Any
) -> None:
    """A record from another feature set leaves the windowed features missing (their meaning
    changed) and the per-transaction ones from the first event; nothing is counted twice."""
    count = FeatureSpec(entity="account_id", stat=Stat.COUNT, window="1h")
    old = OnlineFeatureStore(store_redis, FeatureSet(windowed=(count,)))
    new_set = FeatureSet(
        windowed=(count, FeatureSpec(entity="account_id", stat=Stat.SUM, window="1h")),
        per_transaction=(TransactionFeatureKind.AMOUNT, TransactionFeatureKind.HOUR_OF_DAY),
    )
    new = OnlineFeatureStore(store_redis, new_set)
    (txn,) = _stream(kit, 1, 0)
    await old.record_and_compute([txn])
    before = await _snapshot(store_redis)
    retried = msgspec.structs.replace(txn, timestamp=txn.timestamp + timedelta(hours=1))
    (vector,) = await new.record_and_compute([retried])
    assert vector.values == {
        "txn_count_by_account_1h": None,
        "amount_sum_by_account_1h": None,
        "amount": 1.0,
        "hour_of_day": 0.0,  # the first event's hour, not the retry's
    }
    assert vector.spec_version == new_set.version
    assert await _snapshot(store_redis) == before


async def test_an_unreachable_redis_is_a_dependency_error() -> None:
    """Connection failures surface as DependencyUnavailableError, not as redis exceptions."""
    client = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), retries=0))
    store = OnlineFeatureStore(client, default_feature_set())
    with pytest.raises(DependencyUnavailableError, match="online features"):
        await store.ping()
    await client.aclose()


async def test_the_engine_factory_connects_and_closes(redis_url: str, kit: Any) -> None:
    """create_online_store(url, feature_set) returns a loaded store whose client it closes."""
    store = await create_online_store(redis_url, default_feature_set())
    try:
        (vector,) = await store.record_and_compute(_stream(kit, 1, 0, account_id="factory"))
        assert vector.values["txn_count_by_account_1m"] == 1.0
        assert list(vector.values) == list(default_feature_set().names)
    finally:
        await store.aclose()
        client = Redis.from_url(redis_url)
        await client.flushdb()
        await client.aclose()


async def test_the_compatibility_server_is_redis_6_2(redis62_url: str) -> None:
    """Every store test also runs on Redis 6.2: the embedded server's version."""
    client = Redis.from_url(redis62_url)
    info = await client.info("server")
    await client.aclose()
    assert str(info["redis_version"]).startswith("6.2.")
