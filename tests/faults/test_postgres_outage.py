"""PostgreSQL stopped for 60 s under load: scoring goes on, and afterwards every decision a
client received is in PostgreSQL exactly once."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from client.gateway import GatewayClient, GatewayReply
from client.load import send_at_rate
from storage.database import create_engine
from tests.engine_fixtures import running_writer
from tests.faults.conftest import OwnPostgres, eventually, report, stored_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 60.0
RATE = 20.0
"""Requests per second: the outage spans about 1,200 decisions."""
BEFORE_S, AFTER_S = 5.0, 10.0


def _payloads(count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "transaction_id": f"pg-outage-{i}",
            "account_id": f"acct-pg-{i % 50}",
            "amount": f"{10 + i % 90}.00",
            "currency": "EUR",
            "timestamp": now,
            "merchant_id": f"mrc-{i % 7}",
            "merchant_category": "5411",
            "country": "FR",
            "channel": "pos",
        }
        for i in range(count)
    ]


async def test_decisions_survive_a_60_s_postgres_outage(
    gateway_url: str, redis_url: str, redis_client: Redis, own_postgres: OwnPostgres
) -> None:
    """Stop PostgreSQL 5 s into a 75 s load for 60 s: every 200 is persisted once afterwards."""
    database = create_engine(own_postgres.url)
    payloads = _payloads(int((BEFORE_S + OUTAGE_S + AFTER_S) * RATE))
    returned: list[str] = []
    failures = 0

    async def outage() -> float:
        await asyncio.sleep(BEFORE_S)
        await own_postgres.stop()
        await asyncio.sleep(OUTAGE_S)
        await own_postgres.start()
        return time.monotonic()

    try:
        async with running_writer(redis_url, database):
            outage_task = asyncio.ensure_future(outage())
            async with GatewayClient(gateway_url, timeout_s=30) as client:
                async for payload, reply in send_at_rate(client.score, payloads, rate=RATE):
                    if isinstance(reply, GatewayReply) and reply.status == 200:
                        returned.append(str(payload["transaction_id"]))
                    else:
                        failures += 1
            restarted_at = await outage_task

            async def all_persisted() -> bool:
                return len(set(await stored_ids(database))) >= len(returned)

            await eventually(all_persisted, "every returned decision in PostgreSQL", within_s=120)
            recovery_s = time.monotonic() - restarted_at
            stored = await stored_ids(database)
            alerts = await stored_ids(database, "alerts")
    finally:
        await database.dispose()

    report(
        "postgres_stopped_60s",
        sent=len(payloads),
        returned=len(returned),
        in_postgres=len(stored),
        duplicates=len(stored) - len(set(stored)),
        failures=failures,
        recovery_s=f"{recovery_s:.1f}",
        alerts=len(alerts),
    )
    assert failures == 0
    assert len(returned) == len(payloads)
    assert sorted(stored) == sorted(returned)
    assert len(alerts) == len(set(alerts))
