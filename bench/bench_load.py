"""Benchmark: HTTP load on the gateway, at fixed concurrency or at a fixed rate.

Against a running engine (``vigil up``)::

    uv run python bench/bench_load.py --concurrency 1,16,64 --requests 2000
    uv run python bench/bench_load.py --rate 100,200,400 --duration 20

or starting one itself (Ray + the Serve app from ``config/serve.yaml`` on the configured or
embedded PostgreSQL/Redis, the model in ``--model-dir``), optionally without Serve's
throughput-optimized mode to compare::

    uv run python bench/bench_load.py --start --throughput-optimized 0 --concurrency 1,16,64

Fixed concurrency is a closed loop (each of N workers sends its next request when the previous
one answered): it measures capacity. Fixed rate is an open loop (request i leaves at i / rate
whatever happened before): it measures latency at a given load, and a server that cannot keep up
shows as growing latency. Prints throughput, p50/p95/p99 latency and the status counts.
The load generator (httpx) shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.engine_commands import frame_payloads
from client.gateway import Failure, GatewayClient, GatewayReply
from client.load import send_at_rate
from training.generate import generate_dataset


def payload_stream(seed: int, tag: str) -> Iterator[dict[str, Any]]:
    """Generated transactions (timestamps omitted: the gateway stamps arrival), unique ids."""
    frame = generate_dataset(accounts=500, days=30, seed=seed)
    for row in frame_payloads(frame):
        row.pop("timestamp")
        yield {**row, "transaction_id": f"{tag}-{row['transaction_id']}"}


def report(label: str, elapsed: float, replies: Sequence[GatewayReply | Failure]) -> None:
    """One line: throughput, latency percentiles, outcome counts."""
    latencies = sorted(r.seconds for r in replies)
    counts = Counter("failed" if isinstance(r, Failure) else str(r.status) for r in replies)

    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000.0

    print(
        f"{label:<18} {len(replies) / elapsed:7.0f} req/s  p50 {at(0.5):7.1f} ms  "
        f"p95 {at(0.95):7.1f} ms  p99 {at(0.99):7.1f} ms  {dict(sorted(counts.items()))}"
    )


async def closed_loop(
    client: GatewayClient, payloads: Iterator[dict[str, Any]], concurrency: int, requests: int
) -> None:
    """``requests`` requests from ``concurrency`` workers that each wait for their answer."""
    replies: list[GatewayReply | Failure] = []
    budget = iter(range(requests))

    async def worker() -> None:
        for _ in budget:
            reply = await client.score(next(payloads))
            replies.append(reply)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    report(f"concurrency {concurrency}", time.perf_counter() - started, replies)


async def open_loop(
    client: GatewayClient, payloads: Iterator[dict[str, Any]], rate: float, duration: float
) -> None:
    """Requests leaving at ``rate`` per second for ``duration`` seconds."""
    count = int(rate * duration)
    batch = [next(payloads) for _ in range(count)]
    replies: list[GatewayReply | Failure] = []
    started = time.perf_counter()
    async for _, reply in send_at_rate(client.score, batch, rate=rate, max_in_flight=1024):
        replies.append(reply)
    report(f"rate {rate:g}/s", time.perf_counter() - started, replies)


async def run(url: str, args: argparse.Namespace) -> None:
    """Warm up, then every requested concurrency and rate."""
    payloads = payload_stream(args.seed, f"load{int(datetime.now(UTC).timestamp())}")
    async with GatewayClient(url, api_key=args.api_key, max_connections=1024) as client:
        ready = await client.ready()
        print(f"gateway {url}: {ready}")
        await closed_loop(client, payloads, 8, 200)  # warm-up, not reported separately
        print("(warm-up above)")
        for concurrency in _numbers(args.concurrency):
            await closed_loop(client, payloads, int(concurrency), args.requests)
        for rate in _numbers(args.rate):
            await open_loop(client, payloads, rate, args.duration)


def start_engine(args: argparse.Namespace) -> str:
    """Start Ray and the Serve app in this process (see the module docstring); its URL."""
    os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = str(args.throughput_optimized)
    from config.settings import load_settings  # noqa: PLC0415
    from runtime import ray_cluster  # noqa: PLC0415
    from runtime.serve_config import deploy_config, load_serve_config  # noqa: PLC0415

    settings = load_settings(**({"model_dir": args.model_dir} if args.model_dir else {}))
    if not (settings.database_url and settings.redis_url):
        from storage.embedded import start_embedded  # noqa: PLC0415

        urls = start_embedded(settings.data_dir)
        settings = settings.model_copy(
            update={"database_url": urls.database_url, "redis_url": urls.redis_url}
        )
    ray_cluster.start_local_ray(settings.data_dir)
    started = time.perf_counter()
    ray_cluster.deploy(deploy_config(load_serve_config(settings.serve_config_file), settings))
    print(
        f"Serve app running after {time.perf_counter() - started:.0f} s "
        f"(RAY_SERVE_THROUGHPUT_OPTIMIZED={args.throughput_optimized})"
    )
    return settings.gateway_url


def _numbers(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main() -> None:
    """Parse arguments, optionally start the engine, run the load."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated; '' for none")
    parser.add_argument("--requests", type=int, default=2000, help="per concurrency level")
    parser.add_argument("--rate", default="", help="comma-separated requests per second")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per rate")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--start", action="store_true", help="start Ray and the app here")
    parser.add_argument("--throughput-optimized", type=int, choices=(0, 1), default=1)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    if not args.start:
        asyncio.run(run(args.url, args))
        return
    from runtime import ray_cluster  # noqa: PLC0415

    url = start_engine(args)
    try:
        asyncio.run(run(url, args))
    finally:
        ray_cluster.stop_ray(graceful=False)


if __name__ == "__main__":
    main()
