"""Benchmark: the online feature store (one EVALSHA per batch) against a real Redis.

Run with ``uv run python bench/bench_online_features.py [--url redis://127.0.0.1:6379/0]
[--accounts N] [--days N] [--batch N] [--single N] [--hot N] [--features FILE]``; ``--url
embedded`` starts the embedded Redis 6.2 in a temporary directory. Keys go under a random prefix
and are deleted at the end. Prints, for the default feature set (or ``--features``) on a generated
stream:

* batch latency (p50/p95/p99) and throughput, replaying the stream in timestamp order; when some
  feature is label-aware, each batch's fraud labels (known at their transaction's event time) are
  recorded right after it, one ``record_labels`` call per batch, timed separately;
* single-transaction latency (p50/p95/p99) on the warmed-up state;
* time inside Redis per call (``INFO commandstats``);
* bytes per key (``MEMORY USAGE``) for account, device, ip and merchant state, label state and
  label records, and idempotency records;
* the error of the bucketed merchant counts against the exact offline values;
* a hot merchant (``--hot`` transactions a day): per-call latency and bytes, exact vs bucketed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
from redis.asyncio import Redis

from core.alerts import AlertLabel
from core.labels import KnownLabel
from core.models import FeatureVector, Transaction
from features.definitions import FeatureSet, Stat
from features.offline import compute_features
from features.online import OnlineFeatureStore
from features.online_plan import StateMode
from features.spec import default_feature_set, load_feature_set
from storage.embedded import EmbeddedRedis
from training.dataset import transactions_from_frame
from training.generate import generate_dataset


def percentiles(label: str, seconds: Sequence[float], per: int = 1) -> None:
    """Print p50/p95/p99 in milliseconds (per call) and microseconds per transaction."""
    p50, p95, p99 = np.percentile(np.asarray(seconds) * 1000.0, [50, 95, 99])
    per_txn = f"  ({p50 * 1000 / per:.0f} us/txn at p50)" if per > 1 else ""
    print(f"{label}: p50 {p50:.3f} ms  p95 {p95:.3f} ms  p99 {p99:.3f} ms{per_txn}")


async def redis_usec_per_call(redis: Redis) -> tuple[int, int]:
    """(calls, microseconds) of EVALSHA so far, from INFO commandstats."""
    stats = await redis.info("commandstats")
    entry = stats.get("cmdstat_evalsha", {"calls": 0, "usec": 0})
    return int(entry["calls"]), int(entry["usec"])


def fraud_labels(df: pd.DataFrame, txns: Sequence[Transaction]) -> list[KnownLabel | None]:
    """Per transaction: its fraud label, known at its event time (``None`` for legit rows)."""
    return [
        KnownLabel(
            transaction_id=txn.transaction_id,
            label=AlertLabel.FRAUD,
            known_at=txn.timestamp,
            source="bench",
            account_id=txn.account_id,
            merchant_id=txn.merchant_id,
            device_id=txn.device_id,
            ip_address=txn.ip_address,
            event_time=txn.timestamp,
        )
        if fraud
        else None
        for txn, fraud in zip(txns, df["label"].to_numpy() == 1, strict=True)
    ]


@dataclass
class LabelCalls:
    """Latencies of label calls, and their EVALSHA calls and microseconds inside Redis."""

    redis: Redis
    seconds: list[float] = field(default_factory=list)
    calls: int = 0
    usec: int = 0

    async def record(self, store: OnlineFeatureStore, labels: list[KnownLabel]) -> None:
        """Record ``labels``, measuring the call (the INFO calls around it are not timed)."""
        calls, usec = await redis_usec_per_call(self.redis)
        started = time.perf_counter()
        await store.record_labels(labels)
        self.seconds.append(time.perf_counter() - started)
        calls_after, usec_after = await redis_usec_per_call(self.redis)
        self.calls += calls_after - calls
        self.usec += usec_after - usec


async def replay(
    store: OnlineFeatureStore,
    txns: Sequence[Transaction],
    batch: int,
    labels: Sequence[KnownLabel | None] | None = None,
    label_calls: LabelCalls | None = None,
) -> tuple[list[float], float, list[FeatureVector]]:
    """Record ``txns`` in batches, each followed by its ``labels`` (one call, measured into
    ``label_calls``); return each batch call's seconds, the total and the vectors."""
    latencies, vectors = [], []
    started = time.perf_counter()
    for start in range(0, len(txns), batch):
        t0 = time.perf_counter()
        vectors += await store.record_and_compute(txns[start : start + batch])
        latencies.append(time.perf_counter() - t0)
        known = [label for label in (labels or [])[start : start + batch] if label is not None]
        if known and store.labelled:
            if label_calls is None:
                await store.record_labels(known)
            else:
                await label_calls.record(store, known)
    return latencies, time.perf_counter() - started, vectors


async def bytes_per_key(redis: Redis, prefix: str) -> None:
    """Print MEMORY USAGE statistics per key kind under ``prefix``."""
    kinds: dict[str, list[int]] = {}
    async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        text = key.decode()[len(prefix) :]
        kind = {"t": "idempotency record", "l": "label record"}.get(text[0], text.split(":")[1])
        if text.startswith("k:"):
            kind = f"{kind} labels"
        size = await redis.memory_usage(key)
        kinds.setdefault(kind, []).append(int(size or 0))
    for kind, sizes in sorted(kinds.items()):
        p50, p95 = np.percentile(sizes, [50, 95])
        print(
            f"  {kind:<19} {len(sizes):>7,} keys  mean {np.mean(sizes):7.0f} B  "
            f"p50 {p50:7.0f} B  p95 {p95:7.0f} B  max {max(sizes):7,} B"
        )


async def delete_prefix(redis: Redis, prefix: str) -> None:
    """Delete every key under ``prefix``."""
    batch = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.delete(*batch)
            batch = []
    if batch:
        await redis.delete(*batch)


def approximation_error(online: pd.DataFrame, offline: pd.DataFrame, names: list[str]) -> None:
    """Print how far the bucketed features are from the exact ones."""
    for name in names:
        exact, approx = offline[name].to_numpy(), online[name].to_numpy()
        error = exact - approx
        relative = error / exact
        print(
            f"  {name}: exact on {np.mean(error == 0):.1%} of rows; "
            f"under by mean {error.mean():.3f}, max {error.max():.0f}; "
            f"relative mean {relative.mean():.3%}, p99 {np.percentile(relative, 99):.2%}, "
            f"max {relative.max():.1%}"
        )


async def hot_merchant(
    redis: Redis, prefix: str, count: int, base: Transaction, feature_set: FeatureSet
) -> None:
    """One merchant with ``count`` transactions a day for two days: exact vs bucketed state, and
    the bucketed 24 h count's error over the second day (full windows)."""
    step = timedelta(days=1) / count
    txns = [
        msgspec.structs.replace(
            base,
            transaction_id=f"hot-{i}",
            account_id=f"acct-hot-{i % 5000}",
            device_id=None,
            ip_address=None,
            merchant_id="hot-merchant",
            timestamp=base.timestamp + step * i,
        )
        for i in range(2 * count)
    ]
    counts: dict[str, list[float]] = {}
    for label, bucketed in (("exact", {}), ("bucketed", None)):
        store = OnlineFeatureStore(
            redis, feature_set, key_prefix=f"{prefix}{label}:", bucketed=bucketed
        )
        await store.load_scripts()
        await replay(store, txns[:-200], 64)
        latencies, _, vectors = await replay(store, txns[-200:], 1)
        counts[label] = [v.values["txn_count_by_merchant_24h"] or 0.0 for v in vectors]
        keys = [k async for k in redis.scan_iter(match=f"{prefix}{label}:s:merchant:*")]
        size = await redis.memory_usage(keys[0])
        percentiles(f"  hot merchant, {label:<8} 1 txn/call", latencies)
        print(f"  hot merchant, {label:<8} state {size:,} B")
    exact, approx = np.asarray(counts["exact"]), np.asarray(counts["bucketed"])
    relative = (exact - approx) / exact
    print(
        f"  hot merchant txn_count_by_merchant_24h (~{exact.mean():,.0f}): bucketed under by "
        f"mean {relative.mean():.2%}, max {relative.max():.2%}"
    )


async def compare_with_offline(
    store: OnlineFeatureStore, df: pd.DataFrame, txns: Sequence[Transaction]
) -> None:
    """Print whether the exact features equal the offline ones, and the bucketed ones' error."""
    feature_set = store.feature_set
    vectors = await store.compute_only(txns)  # all recorded: the recorded features
    names = list(feature_set.names)
    online = pd.DataFrame(
        [[np.nan if v.values[n] is None else v.values[n] for n in names] for v in vectors],
        columns=names,
    )
    offline = compute_features(df, feature_set).reset_index(drop=True)
    bucketed = [
        s.name for e in store.plan.entities if e.mode is StateMode.BUCKETED for s in e.history
    ]
    exact = [n for n in names if n not in bucketed]
    same = (online[exact] == offline[exact]) | (online[exact].isna() & offline[exact].isna())
    print(f"exact features equal to offline: {bool(same.all().all())} ({len(exact)} features)")
    print("bucketed features vs exact:")
    stats = {s.name: s.stat for s in feature_set.windowed}
    approximation_error(online, offline, [n for n in bucketed if stats[n] is Stat.COUNT])
    for name in (n for n in bucketed if stats[n] is Stat.FRAUD_SHARE):
        gap = (online[name] - offline[name]).abs()
        print(f"  {name}: exact on {np.mean(gap == 0):.1%} of rows; max off {gap.max():.3f}")


async def run(url: str, args: argparse.Namespace) -> None:
    """The benchmark on the server at ``url``."""
    redis = Redis.from_url(url)
    info = await redis.info("server")
    print(f"Redis {info['redis_version']} at {url}")
    df = generate_dataset(accounts=args.accounts, days=args.days, seed=args.seed)
    txns = transactions_from_frame(df)
    feature_set = (
        default_feature_set() if args.features is None else load_feature_set(args.features)
    )
    print(f"feature set {feature_set.version}: {len(feature_set.names)} features")
    labels = fraud_labels(df, txns)
    prefix = f"bench:{secrets.token_hex(4)}:"
    store = OnlineFeatureStore(redis, feature_set, key_prefix=prefix)
    await store.load_scripts()
    print(f"{len(txns):,} transactions, {args.accounts:,} accounts, {args.days} days")
    try:
        head, tail = txns[: -args.single], txns[-args.single :]
        calls0, usec0 = await redis_usec_per_call(redis)
        label_calls = LabelCalls(redis)
        latencies, total, _ = await replay(store, head, args.batch, labels, label_calls)
        calls1, usec1 = await redis_usec_per_call(redis)
        percentiles(f"batch of {args.batch}", latencies, per=args.batch)
        print(f"throughput {len(head) / total:,.0f} txns/s (batches of {args.batch})")
        batch_calls = calls1 - calls0 - label_calls.calls
        batch_usec = usec1 - usec0 - label_calls.usec
        print(f"  inside Redis: {batch_usec / max(batch_calls, 1):,.0f} us per batch")
        if label_calls.seconds:
            posted = sum(label is not None for label in labels[: len(head)])
            count = len(label_calls.seconds)
            percentiles(f"label batches ({count} calls, {posted} labels)", label_calls.seconds)
            print(
                f"  inside Redis: {label_calls.usec / max(label_calls.calls, 1):,.0f} us per call"
            )
        singles, total, _ = await replay(store, tail, 1, labels[-args.single :])
        calls2, usec2 = await redis_usec_per_call(redis)
        percentiles("single transaction", singles)
        print(f"throughput {len(tail) / total:,.0f} txns/s (one per call, sequential)")
        print(f"  inside Redis: {(usec2 - usec1) / max(calls2 - calls1, 1):,.0f} us per call")
        print("bytes per key (MEMORY USAGE, key and value):")
        await bytes_per_key(redis, prefix)

        await compare_with_offline(store, df, txns)
        if "txn_count_by_merchant_24h" in feature_set.names:
            await hot_merchant(redis, prefix, args.hot, txns[0], feature_set)
    finally:
        await delete_prefix(redis, prefix)
        await redis.aclose()


def main() -> None:
    """Parse arguments, pick the server, run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--hot", type=int, default=5_000)
    parser.add_argument("--features", type=Path, default=None, help="feature spec file")
    args = parser.parse_args()
    if args.url != "embedded":
        asyncio.run(run(args.url, args))
        return
    directory = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    server = EmbeddedRedis(directory / "redis")
    try:
        asyncio.run(run(server.start(), args))
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
