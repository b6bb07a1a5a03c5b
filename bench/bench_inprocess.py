"""Benchmark: the scoring pipeline without Ray (the baseline for ``bench_load.py``).

Run with ``uv run python bench/bench_inprocess.py [--redis-url URL] [--model-dir DIR]``.

Uses a real Redis (``--redis-url``, default ``redis://127.0.0.1:6379/14``, flushed first), the
shipped rules and feature specs, and the model in ``--model-dir`` (default: the configured
``model_dir``; when it does not exist a small model is trained into a temporary directory).
Transactions come from ``training.generate`` (seeded). Prints, per batch size:

* ``features`` one ``record_and_compute`` (one EVALSHA) per batch;
* ``rules``    every rule on every row;
* ``ensemble`` scoring, with contributions for no row / review-worthy rows / every row;
* ``stream``   one pipelined XADD round trip per batch;

then the whole pipeline (micro-batching, all stages, decision, stream) at fixed concurrency:
throughput and p50/p95/p99 latency per transaction as seen by the caller. Every concurrency level
scores its own fresh transactions (``--transactions`` each): a reused id would be an idempotent
replay (a stored-decision lookup, no scoring), so the bench checks that every call appended a new
decision to the stream and fails otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from redis.asyncio import Redis

from cli.engine_commands import frame_payloads
from config.settings import load_settings
from core.models import Transaction
from core.records import DecisionRecord
from engine.batching import BatchingOptions
from engine.components import load_feature_set, load_model, open_feature_store, watch_rules
from engine.inprocess import InProcessScorer
from engine.model import ArtifactEnsemble, ExplainPolicy
from engine.pipeline import PipelineOptions
from engine.stages import EnsembleStage, RuleStage
from storage.stream import DecisionStream
from training.generate import generate_dataset

T = TypeVar("T")


def transactions(count: int, seed: int) -> list[Transaction]:
    """``count`` generated transactions re-timed to end now (their order kept)."""
    frame = generate_dataset(accounts=max(50, count // 40), days=30, seed=seed).head(count)
    shift = datetime.now(UTC) - frame["timestamp"].max().to_pydatetime() - timedelta(minutes=1)
    frame = frame.assign(timestamp=frame["timestamp"] + shift)
    return [msgspec.convert(p, Transaction, strict=False) for p in frame_payloads(frame)]


def percentiles(samples: Sequence[float]) -> str:
    """p50/p95/p99 of ``samples`` (seconds) in milliseconds."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0

    return f"p50 {at(0.50):7.3f} ms  p95 {at(0.95):7.3f} ms  p99 {at(0.99):7.3f} ms"


async def timed(call: Callable[[T], Awaitable[object]], items: Sequence[T]) -> list[float]:
    """Seconds per awaited ``call(item)``, for each item in turn."""
    samples = []
    for item in items:
        started = time.perf_counter()
        await call(item)
        samples.append(time.perf_counter() - started)
    return samples


async def record(features: Any, batch: list[Transaction], *, into: list[Any]) -> None:
    """Record ``batch`` through the features stage and keep its vectors."""
    into.append(await features.compute(batch))


async def score_off_loop(model: ArtifactEnsemble, vectors: list[Any]) -> object:
    """Score in a worker thread, as the ensemble stage does."""
    return await asyncio.to_thread(model.score_vectors, vectors)


def ensure_model(model_dir: Path, seed: int) -> Path:
    """``model_dir`` if it holds an artifact, else a small model trained in a temp dir."""
    if (model_dir / "manifest.json").is_file():
        return model_dir
    from features.spec import default_feature_set  # noqa: PLC0415
    from training.train import ModelParams, train  # noqa: PLC0415

    out = Path(tempfile.mkdtemp(prefix="vigil-bench-model-")) / "model"
    print(f"no artifact in {model_dir}; training a small one into {out}")
    params = ModelParams(n_estimators=100, max_depth=5, forest_trees=100, n_threads=2)
    dataset = generate_dataset(accounts=300, days=30, seed=seed)
    return train(dataset, default_feature_set(), out, seed=seed, gap_days=3, params=params)


async def stages(settings: Any, txns: list[Transaction], batch_sizes: list[int]) -> None:
    """Per-stage cost for each batch size."""
    feature_set = load_feature_set(settings)
    features = await open_feature_store(settings, feature_set)
    watcher = watch_rules(settings, feature_set.names)
    rules = RuleStage(lambda: watcher.current)
    models: dict[ExplainPolicy, ArtifactEnsemble] = {
        policy: load_model(settings, feature_set.names, explain=policy)
        for policy in ("none", "risky", "all")
    }
    redis = Redis.from_url(settings.redis_url)
    sink = DecisionStream(redis, name="vigil:bench:decisions")
    pipeline_options = PipelineOptions(batching=BatchingOptions(max_batch_size=1))
    scorer = InProcessScorer(
        features=features,
        rules=rules,
        ensemble=EnsembleStage(models["risky"]),
        sink=None,
        options=pipeline_options,
    )
    try:
        offset = 0
        for size in batch_sizes:
            repeat = max(20, 400 // size)
            batches = [txns[offset + i * size : offset + (i + 1) * size] for i in range(repeat)]
            offset += size * repeat
            print(f"\nbatch size {size} ({repeat} batches; per batch)")
            vectors: list[Any] = []
            samples = await timed(partial(record, features, into=vectors), batches)
            print(f"  features          {percentiles(samples)}")
            pairs = list(zip(batches, vectors, strict=True))
            samples = await timed(lambda pair: rules.evaluate(*pair), pairs)
            print(f"  rules             {percentiles(samples)}")
            for policy, model in models.items():
                samples = await timed(partial(score_off_loop, model), vectors)
                print(f"  ensemble {policy:<8} {percentiles(samples)}")
            decisions = await scorer.score_batch(batches[0])
            records = [
                DecisionRecord(transaction=t, decision=d, received_at=datetime.now(UTC))
                for t, d in zip(batches[0], decisions, strict=True)
                if not isinstance(d, Exception)
            ]
            samples = await timed(sink.append, [records] * repeat)
            print(f"  stream            {percentiles(samples)}")
    finally:
        await redis.delete("vigil:bench:decisions")
        await redis.aclose()
        await scorer.aclose()


async def end_to_end(settings: Any, txns: list[Transaction], concurrency: int) -> None:
    """The whole pipeline with ``concurrency`` callers, one transaction per call."""
    redis = Redis.from_url(settings.redis_url)
    sink = DecisionStream(redis, name="vigil:bench:decisions")
    scorer = await InProcessScorer.open(settings, sink=sink)
    latencies: list[float] = []
    queue: asyncio.Queue[Transaction] = asyncio.Queue()
    for txn in txns:
        queue.put_nowait(txn)

    async def caller() -> None:
        while not queue.empty():
            txn = queue.get_nowait()
            started = time.perf_counter()
            await scorer.score([txn])
            latencies.append(time.perf_counter() - started)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        appended = int(await redis.xlen("vigil:bench:decisions"))
        if appended != len(txns):
            raise SystemExit(
                f"concurrency {concurrency}: {len(txns) - appended} of {len(txns)} calls were "
                "replays, not scored: the bench must send fresh transaction ids"
            )
    finally:
        await redis.delete("vigil:bench:decisions")
        await redis.aclose()
        await scorer.aclose()
    print(
        f"  concurrency {concurrency:>3}: {len(latencies) / elapsed:8.0f} txn/s  "
        f"{percentiles(latencies)}  (mean {statistics.mean(latencies) * 1000:.2f} ms)"
    )


async def main() -> None:
    """Parse arguments and run both parts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--transactions", type=int, default=6000)
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    base = load_settings(environ={})
    model_dir = ensure_model(args.model_dir or base.model_dir, args.seed)
    settings = load_settings(environ={}, redis_url=args.redis_url, model_dir=model_dir)
    flush = Redis.from_url(args.redis_url)
    await flush.flushdb()
    await flush.aclose()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]
    staged = sum(size * max(20, 400 // size) for size in sizes)
    txns = transactions(staged + args.transactions * len(levels), args.seed)
    print(f"{len(txns)} transactions, model {model_dir}, Redis {args.redis_url}")
    await stages(settings, txns[:staged], sizes)
    print("\nend to end (micro-batching 64 / 2 ms; features, rules ‖ ensemble, decide, stream)")
    for index, concurrency in enumerate(levels):
        start = staged + index * args.transactions
        await end_to_end(settings, txns[start : start + args.transactions], concurrency)


if __name__ == "__main__":
    asyncio.run(main())
