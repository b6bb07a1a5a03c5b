"""A frozen PostgreSQL (every server process stopped with SIGSTOP) must not slow scoring down.

Scoring needs only Redis; PostgreSQL is read for API keys (cached per replica) and written by the
stream writer (which only falls behind). Before, every request after the key cache's TTL waited the
2 s lookup timeout on the frozen database. Now the stale answer is served at once and refreshed in
the background; when PostgreSQL thaws, the writer stores everything that was decided meanwhile.

The gateway runs in-process (the real app, the real stages on the session's Redis) with keys on in
a PostgreSQL of this test alone, so freezing it touches nothing else.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from config.settings import Settings
from core.access import Scope
from engine.inprocess import InProcessScorer
from serving.gateway import build_gateway
from storage.api_keys import ApiKeyStore
from storage.database import create_engine
from storage.stream import open_decision_stream
from storage.writer import StreamWriter, WriterConfig
from tests.faults.conftest import OwnPostgres, report, stored_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE, FROZEN_S = 20.0, 6.0
TTL_S = 0.5


def _payload(i: int) -> dict[str, Any]:
    return {
        "transaction_id": f"pg-frozen-{i}",
        "account_id": f"acct-pf-{i % 20}",
        "amount": "17.00",
        "currency": "EUR",
        "timestamp": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        "merchant_id": "mrc-pf",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "ecommerce",
    }


@contextmanager
def frozen(data_dir: Path) -> Iterator[int]:
    """SIGSTOP the postmaster of ``data_dir`` and every process it forked; SIGCONT on exit."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    processes = [postmaster, *_children(postmaster)]
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield len(processes)
    finally:
        for pid in processes:
            os.kill(pid, signal.SIGCONT)


def _children(parent: int) -> list[int]:
    """Pids whose parent is ``parent`` (PostgreSQL's backends and workers), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


async def test_scoring_does_not_wait_on_a_frozen_postgres(
    own_postgres: OwnPostgres, engine_settings: Settings, redis_client: Redis
) -> None:
    """With PostgreSQL frozen for 6 s at 20 requests/s, every request is answered fast with a key
    checked earlier; after the thaw every decision is stored once."""
    del redis_client  # the session's Redis, flushed first
    settings = engine_settings.model_copy(
        update={
            "database_url": own_postgres.url,
            "auth_enabled": True,
            "api_key_cache_ttl_s": TTL_S,
        }
    )
    db = create_engine(own_postgres.url)
    issued = await ApiKeyStore(db).create("frozen-test", {Scope.SCORE}, created_by="test")
    assert settings.redis_url is not None
    sink = open_decision_stream(settings.redis_url)
    scorer = await InProcessScorer.open(settings, sink=sink)
    app = build_gateway(settings, scorer)
    headers = {"authorization": f"Bearer {issued.secret}"}
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    latencies: list[float] = []
    statuses: list[int] = []
    try:
        async with (
            app.lifespan(),
            httpx.AsyncClient(
                transport=transport, base_url="http://vigil.test", headers=headers
            ) as client,
        ):
            warm = await client.post("/v1/transactions", json=_payload(0))
            assert warm.status_code == 200, warm.text  # the key is now cached
            await asyncio.sleep(TTL_S * 2)  # past the TTL: the next check wants PostgreSQL
            with frozen(Path(own_postgres.server.directory)) as processes:

                async def one(i: int) -> None:
                    started = time.perf_counter()
                    answer = await client.post("/v1/transactions", json=_payload(i))
                    latencies.append(time.perf_counter() - started)
                    statuses.append(answer.status_code)

                tasks = []
                for i in range(1, int(RATE * FROZEN_S) + 1):
                    tasks.append(asyncio.create_task(one(i)))
                    await asyncio.sleep(1 / RATE)
                await asyncio.gather(*tasks)
        config = WriterConfig(consumer="pf", block_ms=50, retry_initial_s=0.01, retry_max_s=0.5)
        writer_redis = Redis.from_url(settings.redis_url)
        thawed = time.monotonic()
        drained = await StreamWriter(writer_redis, db, config).drain()
        stored_after_s = time.monotonic() - thawed
        await writer_redis.aclose()
        stored = await stored_ids(db)
    finally:
        await scorer.aclose()
        await sink.aclose()
        await db.dispose()
    ordered = sorted(latencies)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    report(
        "postgres_frozen",
        frozen_processes=processes,
        sent=len(statuses) + 1,
        ok=statuses.count(200) + 1,
        in_postgres=len(stored),
        duplicates=len(stored) - len(set(stored)),
        latency_p50_ms=f"{ordered[len(ordered) // 2] * 1000:.1f}",
        latency_p99_ms=f"{p99 * 1000:.1f}",
        stored_after_thaw_s=f"{stored_after_s:.1f}",
        dead_lettered=drained.dead_lettered,
    )
    assert statuses == [200] * len(statuses)
    assert p99 < 1.0, f"p99 {p99:.2f} s: requests waited on the frozen database"
    assert sorted(set(stored)) == sorted(f"pg-frozen-{i}" for i in range(len(statuses) + 1))
    assert len(stored) == len(set(stored))
