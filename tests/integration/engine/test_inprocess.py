"""The in-process scorer runs the real stages (Redis features, rules, model) without Ray."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

import pytest
from redis.asyncio import Redis

from config.settings import Settings
from core.models import Channel, Outcome, Transaction
from engine.inprocess import InProcessScorer
from storage.codec import decode_entry
from storage.stream import DECISION_STREAM, open_decision_stream

StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def _txn(n: int, amount: str = "20.00") -> Transaction:
    return Transaction(
        transaction_id=f"inproc-{n}",
        account_id="acct-inproc",
        amount=Decimal(amount),
        currency="EUR",
        timestamp=T0 + timedelta(seconds=10 * n),
        merchant_id="mrc-1",
        merchant_category="5411",
        country="FR",
        channel=Channel.ECOMMERCE,
        device_id="dev-1",
    )


@pytest.fixture
async def scorer(engine_settings: Settings, redis_client: Redis) -> AsyncIterator[InProcessScorer]:
    """An in-process scorer on the session's Redis (flushed) and the trained model."""
    del redis_client  # requested for the flush before the test
    assert engine_settings.redis_url is not None
    sink = open_decision_stream(engine_settings.redis_url)
    built = await InProcessScorer.open(engine_settings, sink=sink)
    yield built
    await built.aclose()
    await sink.aclose()


async def test_decisions_match_the_stream_and_count_history(
    scorer: InProcessScorer, redis_client: Redis
) -> None:
    """Concurrent transactions are decided, streamed once each, and see their predecessors."""
    first = await scorer.score([_txn(0)])
    rest = await asyncio.gather(*(scorer.score([_txn(n)]) for n in range(1, 6)))
    decisions = first + [d for batch in rest for d in batch]
    assert [d.transaction_id for d in decisions] == [f"inproc-{n}" for n in range(6)]
    assert all(d.outcome in set(Outcome) for d in decisions)
    assert decisions[0].features["txn_count_by_account_1h"] == 1.0
    assert decisions[5].features["txn_count_by_account_1h"] == 6.0
    entries = cast(StreamEntries, await redis_client.xrange(DECISION_STREAM))
    streamed = [decode_entry(str(i), f).decision.transaction_id for i, f in entries]
    assert sorted(streamed) == sorted(d.transaction_id for d in decisions)


async def test_retried_transaction_is_not_counted_twice(scorer: InProcessScorer) -> None:
    """Scoring the same transaction id again gives the same features (recording is idempotent)."""
    [once] = await scorer.score([_txn(0)])
    [again] = await scorer.score([_txn(0)])
    assert again.features == once.features


async def test_ready_names_both_versions(scorer: InProcessScorer) -> None:
    """ready() reports the loaded rule-set and model versions."""
    versions = await scorer.ready()
    assert set(versions) == {"ruleset_version", "model_version"}
    assert all(versions.values())
