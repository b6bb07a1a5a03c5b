"""Benchmark: the online feature store (one EVALSHA per batch) against a real Redis.

Run with ``uv run python bench/bench_online_features.py [--url redis://127.0.0.1:6379/0]
[--accounts N] [--days N] [--batch N] [--single N] [--hot N]``; ``--url embedded`` starts the
embedded Redis 6.2 in a temporary directory. Keys go under a random prefix and are deleted at the
end. Prints, for the default feature set on a generated stream:

* batch latency (p50/p95/p99) and throughput, replaying the stream in timestamp order;
* single-transaction latency (p50/p95/p99) on the warmed-up state;
* time inside Redis per call (``INFO commandstats``);
* bytes per key (``MEMORY USAGE``) for account, device, ip and merchant state and idempotency
  records;
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
from datetime import timedelta
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
from redis.asyncio import Redis

from core.models import FeatureVector, Transaction
from features.definitions import FeatureSet
from features.offline import compute_features
from features.online import OnlineFeatureStore
from features.online_plan import StateMode
from features.spec import default_feature_set
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


async def replay(
    store: OnlineFeatureStore, txns: Sequence[Transaction], batch: int
) -> tuple[list[float], float, list[FeatureVector]]:
    """Record ``txns`` in batches; return each call's seconds, the total and the vectors."""
    latencies, vectors = [], []
    started = time.perf_counter()
    for start in range(0, len(txns), batch):
        t0 = time.perf_counter()
        vectors += await store.record_and_compute(txns[start : start + batch])
        latencies.append(time.perf_counter() - t0)
    return latencies, time.perf_counter() - started, vectors


async def bytes_per_key(redis: Redis, prefix: str) -> None:
    """Print MEMORY USAGE statistics per key kind under ``prefix``."""
    kinds: dict[str, list[int]] = {}
    async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        text = key.decode()[len(prefix) :]
        kind = "idempotency record" if text.startswith("t:") else text.split(":")[1]
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


async def hot_merchant(redis: Redis, prefix: str, count: int, base: Transaction) -> None:
    """One merchant with ``count`` transactions a day for two days: exact vs bucketed state, and
    the bucketed 24 h count's error over the second day (full windows)."""
    feature_set = default_feature_set()
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


async def run(url: str, args: argparse.Namespace) -> None:
    """The benchmark on the server at ``url``."""
    redis = Redis.from_url(url)
    info = await redis.info("server")
    print(f"Redis {info['redis_version']} at {url}")
    df = generate_dataset(accounts=args.accounts, days=args.days, seed=args.seed)
    txns = transactions_from_frame(df)
    feature_set: FeatureSet = default_feature_set()
    prefix = f"bench:{secrets.token_hex(4)}:"
    store = OnlineFeatureStore(redis, feature_set, key_prefix=prefix)
    await store.load_scripts()
    print(f"{len(txns):,} transactions, {args.accounts:,} accounts, {args.days} days")
    try:
        head, tail = txns[: -args.single], txns[-args.single :]
        calls0, usec0 = await redis_usec_per_call(redis)
        latencies, total, _ = await replay(store, head, args.batch)
        calls1, usec1 = await redis_usec_per_call(redis)
        percentiles(f"batch of {args.batch}", latencies, per=args.batch)
        print(f"throughput {len(head) / total:,.0f} txns/s (batches of {args.batch})")
        print(f"  inside Redis: {(usec1 - usec0) / max(calls1 - calls0, 1):,.0f} us per batch")
        singles, total, _ = await replay(store, tail, 1)
        calls2, usec2 = await redis_usec_per_call(redis)
        percentiles("single transaction", singles)
        print(f"throughput {len(tail) / total:,.0f} txns/s (one per call, sequential)")
        print(f"  inside Redis: {(usec2 - usec1) / max(calls2 - calls1, 1):,.0f} us per call")
        print("bytes per key (MEMORY USAGE, key and value):")
        await bytes_per_key(redis, prefix)

        vectors = await store.compute_only(txns)  # all recorded: the recorded features
        names = list(feature_set.names)
        online = pd.DataFrame(
            [[np.nan if v.values[n] is None else v.values[n] for n in names] for v in vectors],
            columns=names,
        )
        offline = compute_features(df, feature_set).reset_index(drop=True)
        bucketed = [
            s.name for e in store.plan.entities if e.mode is StateMode.BUCKETED for s in e.specs
        ]
        exact = [n for n in names if n not in bucketed]
        same = (online[exact] == offline[exact]) | (online[exact].isna() & offline[exact].isna())
        print(f"exact features equal to offline: {bool(same.all().all())} ({len(exact)} features)")
        print("bucketed features vs exact:")
        approximation_error(online, offline, bucketed)
        await hot_merchant(redis, prefix, args.hot, txns[0])
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
