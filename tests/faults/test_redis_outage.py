"""Redis stopped for 10 s while transactions are scored: requests in the outage get a clear
"unavailable" error (Redis holds both the features and the durable decision stream, so no
decision can be made durable without it), scoring resumes by itself when Redis is back, and every
decision returned before, during or after is persisted exactly once, also across the restart.

The stages run in this process (:class:`engine.inprocess.InProcessScorer`, the same pipeline and
stages the Serve deployments wrap) against a Redis of this test alone, so stopping it leaves the
session's engine alone.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from core.errors import DependencyUnavailableError
from core.models import Channel, Transaction
from engine.batching import BatchingOptions
from engine.inprocess import InProcessScorer
from engine.pipeline import PipelineOptions
from storage.embedded import EmbeddedRedis
from storage.stream import open_decision_stream, stream_client
from storage.writer import StreamWriter
from tests.faults.conftest import report, stored_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE = 20.0
BEFORE_S, OUTAGE_S, AFTER_S = 4.0, 10.0, 6.0


@pytest.fixture
async def own_redis() -> AsyncIterator[EmbeddedRedis]:
    """An embedded Redis (append-only file on) of this test alone."""
    directory = Path(tempfile.mkdtemp(prefix="vigil-fault-redis-"))
    server = EmbeddedRedis(directory / "redis")
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)
    shutil.rmtree(directory, ignore_errors=True)


def _txn(n: int) -> Transaction:
    return Transaction(
        transaction_id=f"redis-outage-{n}",
        account_id=f"acct-ro-{n % 20}",
        amount=Decimal("25.00"),
        currency="EUR",
        timestamp=datetime.now(UTC),
        merchant_id="mrc-ro",
        merchant_category="5411",
        country="FR",
        channel=Channel.POS,
    )


async def test_a_redis_outage_refuses_cleanly_and_loses_nothing(
    engine_settings: Settings, own_redis: EmbeddedRedis, db_engine: AsyncEngine
) -> None:
    """Stop Redis 4 s into a 20 s run for 10 s: failures are errors, returned decisions persist."""
    url = own_redis.url()
    assert url is not None
    settings = engine_settings.model_copy(update={"redis_url": url})
    sink = open_decision_stream(url)
    options = PipelineOptions(batching=BatchingOptions(max_wait_s=0.002), stage_timeout_s=1.0)
    scorer = await InProcessScorer.open(settings, sink=sink, options=options)
    returned: list[str] = []
    returned_at: list[float] = []
    failures: list[str] = []
    stopped_at: list[float] = []

    async def outage() -> float:
        await asyncio.sleep(BEFORE_S)
        await asyncio.to_thread(own_redis.stop)
        stopped_at.append(time.monotonic())
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(own_redis.start)
        return time.monotonic()

    async def one(n: int) -> None:
        try:
            [decision] = await scorer.score([_txn(n)])
            returned.append(decision.transaction_id)
            returned_at.append(time.monotonic())
        except DependencyUnavailableError as exc:
            failures.append(str(exc))

    restart = asyncio.ensure_future(outage())
    sent, tasks = 0, []
    started = time.monotonic()
    while time.monotonic() - started < BEFORE_S + OUTAGE_S + AFTER_S:
        tasks.append(asyncio.ensure_future(one(sent)))
        sent += 1
        await asyncio.sleep(1 / RATE)
    await asyncio.gather(*tasks)
    restarted_at = await restart
    after_restart = [t for t in returned if int(t.rsplit("-", 1)[1]) >= sent - int(AFTER_S * RATE)]
    await scorer.aclose()
    await sink.aclose()

    redis = stream_client(url)
    try:
        await StreamWriter(redis, db_engine).drain()
    finally:
        await redis.aclose()
    stored = await stored_ids(db_engine)
    first_after = min((t for t in returned_at if t > restarted_at), default=float("nan"))
    report(
        "redis_stopped_10s",
        sent=sent,
        returned=len(returned),
        in_postgres=len(stored),
        duplicates=len(stored) - len(set(stored)),
        failures=len(failures),
        stored_but_not_returned=len(set(stored) - set(returned)),
        scoring_after_restart=len(after_restart),
        redis_down_s=f"{restarted_at - stopped_at[0]:.1f}",
        first_decision_after_restart_s=f"{first_after - restarted_at:.2f}",
    )
    assert failures, "the outage must have been noticed"
    assert all("redis" in f.lower() or "did not answer" in f or "features" in f for f in failures)
    assert after_restart, "scoring must resume once Redis is back"
    assert set(returned) <= set(stored)
    assert len(stored) == len(set(stored))
