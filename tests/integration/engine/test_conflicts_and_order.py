"""Issue 12 through the in-process pipeline on real Redis (and PostgreSQL): concurrent payloads of
one id leave one self-consistent decision; a batch request gives the offline features."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

import numpy as np
import pandas as pd
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from core.errors import ConflictError
from core.models import Channel, Decision, Transaction
from engine.batching import BatchingOptions
from engine.inprocess import InProcessScorer
from engine.pipeline import PipelineOptions
from features.offline import compute_features
from features.online import default_bucketed
from features.spec import default_feature_set
from storage.codec import decode_entry
from storage.stream import DECISION_STREAM, DecisionStream, open_decision_stream
from storage.writer import StreamWriter
from training.dataset import transactions_from_frame
from training.generate import generate_dataset

StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]
T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def sink(engine_settings: Settings, redis_client: Redis) -> AsyncIterator[DecisionStream]:
    """The decision stream on the session's Redis (flushed first)."""
    del redis_client  # requested for the flush before the test
    assert engine_settings.redis_url is not None
    stream = open_decision_stream(engine_settings.redis_url)
    yield stream
    await stream.aclose()


async def _scorer(settings: Settings, sink: DecisionStream, batch: int) -> InProcessScorer:
    """Micro-batches of ``batch`` with 4 in flight, so one request spans concurrent batches."""
    batching = BatchingOptions(max_batch_size=batch, max_wait_s=0.002, max_in_flight=4)
    return await InProcessScorer.open(
        settings, sink=sink, options=PipelineOptions(batching=batching)
    )


def _payment(amount: Decimal) -> Transaction:
    return Transaction(
        transaction_id="same-id",
        account_id="acct-race",
        amount=amount,
        currency="USD",
        timestamp=T0,
        merchant_id="mrc-1",
        merchant_category="5411",
        country="FR",
        channel=Channel.ECOMMERCE,
    )


async def test_concurrent_payloads_of_one_id_leave_one_consistent_decision(
    engine_settings: Settings, sink: DecisionStream, redis_client: Redis, db_engine: AsyncEngine
) -> None:
    """50 concurrent requests with one transaction_id and 50 amounts: one decision, made on its
    own amount; 49 ConflictErrors; the stream and PostgreSQL hold only that decision."""
    scorer = await _scorer(engine_settings, sink, batch=8)
    try:
        results = await asyncio.gather(
            *(scorer.score([_payment(Decimal(10 + n))]) for n in range(50)),
            return_exceptions=True,
        )
    finally:
        await scorer.aclose()
    decided = [r[0] for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert (len(decided), len(refused)) == (1, 49), results
    [decision] = decided
    winner = 10 + results.index([decision])
    assert decision.features["amount"] == float(winner)
    assert decision.features["txn_count_by_account_1h"] == 1.0

    entries = cast(StreamEntries, await redis_client.xrange(DECISION_STREAM))
    streamed = [decode_entry(str(i), fields) for i, fields in entries]
    assert [(r.transaction.amount, r.decision) for r in streamed] == [(Decimal(winner), decision)]

    await StreamWriter(redis_client, db_engine).drain()
    async with db_engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT t.amount, d.features FROM transactions t "
                    "JOIN decisions d USING (transaction_id)"
                )
            )
        ).all()
    assert [(amount, features["amount"]) for amount, features in rows] == [
        (Decimal(winner), float(winner))
    ]


async def test_a_batch_request_gets_the_offline_features(
    engine_settings: Settings, sink: DecisionStream
) -> None:
    """One request of ~400 generated transactions in shuffled order, spread over micro-batches of
    16 with 4 in flight, gets every exact feature the offline computation gives its rows,
    answered in the request's order."""
    frame = generate_dataset(accounts=60, days=4, seed=12)
    assert len(frame) > 300
    request = transactions_from_frame(frame)
    random.Random(5).shuffle(request)
    scorer = await _scorer(engine_settings, sink, batch=16)
    try:
        decisions: list[Decision] = await scorer.score(request)
    finally:
        await scorer.aclose()
    assert [d.transaction_id for d in decisions] == [t.transaction_id for t in request]

    feature_set = default_feature_set()
    bucketed = {
        s.name for field in default_bucketed(feature_set) for s in feature_set.specs_for(field)
    }
    exact = [name for name in feature_set.names if name not in bucketed]
    unlabelled = frame.drop(columns="label")  # no label reaches the online store here
    offline = compute_features(unlabelled, feature_set).set_axis(frame["transaction_id"])[exact]
    online = pd.DataFrame(
        [[np.nan if d.features[n] is None else d.features[n] for n in exact] for d in decisions],
        index=[d.transaction_id for d in decisions],
        columns=exact,
    ).loc[offline.index]
    same = (online == offline) | (online.isna() & offline.isna())
    differing = {name: int((~same[name]).sum()) for name in exact if not same[name].all()}
    assert differing == {}
