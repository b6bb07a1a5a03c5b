"""Hostile items never hurt their neighbours: each gets a 400 naming its field, the rest are
scored, stored and readable.

The gateway app runs on the real in-process scorer (Redis features, rules, model), the real
decision stream and the real stream writer into PostgreSQL. The payloads are the ones that used to
pass validation and then either fail a whole micro-batch (a 70-bit integer, a year-1 timestamp with
a +14:00 offset: 246 of 400 concurrent valid requests got 503) or get a 200 and then be refused by
PostgreSQL and lost (a trailing newline in a code, U+0000 in an attribute).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from engine.inprocess import InProcessScorer
from serving.gateway import build_gateway
from storage.stream import open_decision_stream
from storage.writer import StreamWriter, WriterConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VALID = 120
POISONS: dict[str, tuple[dict[str, Any], str]] = {
    "huge-int": ({"attributes": {"k": 2**70}}, "$.attributes"),
    "year-one": ({"timestamp": "0001-01-01T00:00:00+14:00"}, "$.timestamp"),
    "mcc-newline": ({"merchant_category": "5732\n"}, "$.merchant_category"),
    "nul-attribute": ({"attributes": {"note": "a\x00b"}}, "$.attributes"),
    "id-newline": ({"account_id": "acct-1\n"}, "$.account_id"),
}


def _payload(transaction_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": f"acct-pp-{hash(transaction_id) % 7}",
        "amount": "42.00",
        "currency": "EUR",
        "timestamp": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "merchant_id": "mrc-pp",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "ecommerce",
        **overrides,
    }


@pytest.fixture
async def gateway(
    engine_settings: Settings, redis_client: Redis, db_engine: AsyncEngine
) -> AsyncIterator[Litestar]:
    """The gateway (auth off) on the in-process scorer, the session's Redis (flushed) and
    PostgreSQL (emptied)."""
    del redis_client, db_engine  # requested for the flush and the truncation
    assert engine_settings.redis_url is not None
    sink = open_decision_stream(engine_settings.redis_url)
    scorer = await InProcessScorer.open(engine_settings, sink=sink)
    yield build_gateway(engine_settings, scorer)
    await scorer.aclose()
    await sink.aclose()


async def test_poison_items_get_400_and_their_neighbours_are_stored(
    gateway: Litestar, redis_client: Redis, db_engine: AsyncEngine
) -> None:
    """Sent concurrently with 120 valid requests, each poison is a 400 naming its field; every
    valid request is 200, stored once and readable."""
    transport = httpx.ASGITransport(app=gateway)  # type: ignore[arg-type]
    client = httpx.AsyncClient(transport=transport, base_url="http://vigil.test")
    async with gateway.lifespan(), client:
        valid = [_payload(f"pp-ok-{i}") for i in range(VALID)]
        poisons = [_payload(f"pp-{name}", **fields) for name, (fields, _) in POISONS.items()]
        answers = await asyncio.gather(
            *(client.post("/v1/transactions", json=body) for body in [*valid, *poisons])
        )
        ok, bad = answers[:VALID], answers[VALID:]
        assert [a.status_code for a in ok] == [200] * VALID
        for answer, (_, field) in zip(bad, POISONS.values(), strict=True):
            assert answer.status_code == 400, answer.text
            locations = [p["location"] for p in answer.json()["errors"]]
            assert any(location.startswith(field) for location in locations), locations
        config = WriterConfig(consumer="pp", block_ms=50, retry_initial_s=0.01, retry_max_s=0.05)
        report = await StreamWriter(redis_client, db_engine, config).drain()
        assert (report.read, report.acknowledged, report.dead_lettered) == (VALID, VALID, 0)
        stored = await asyncio.gather(
            *(client.get(f"/v1/transactions/{body['transaction_id']}") for body in valid)
        )
        assert [s.status_code for s in stored] == [200] * VALID
