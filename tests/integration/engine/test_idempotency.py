"""Retries through the real gateway: the same ``transaction_id`` and payload gets the stored
decision back and moves no velocity feature; the same id with another payload is a 409."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.writer import StreamWriter
from tests.faults.conftest import stored_ids


def _payload(transaction_id: str, at: datetime, amount: str = "42.00") -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": "acct-retry",
        "amount": amount,
        "currency": "EUR",
        "timestamp": at.isoformat(),
        "merchant_id": "mrc-retry",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "pos",
    }


async def test_a_retry_gets_the_stored_decision_and_counts_once(
    gateway_url: str, redis_client: Redis, db_engine: AsyncEngine
) -> None:
    """Sent three times, a transaction is one decision, one row and one count in the windows."""
    at = datetime.now(UTC) - timedelta(minutes=5)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        replies = [
            await client.post("/v1/transactions", json=_payload("retry-1", at)) for _ in range(3)
        ]
        following = await client.post(
            "/v1/transactions", json=_payload("retry-2", at + timedelta(seconds=30))
        )
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert replies[1].json() == replies[0].json() == replies[2].json()
    assert following.status_code == 200
    assert following.json()["features"]["txn_count_by_account_1h"] == 2.0

    await StreamWriter(redis_client, db_engine).drain()
    assert sorted(await stored_ids(db_engine)) == ["retry-1", "retry-2"]


async def test_the_same_id_with_another_payload_is_a_conflict(gateway_url: str) -> None:
    """A reused id with a different amount is 409 naming the field; the first decision stays."""
    at = datetime.now(UTC) - timedelta(minutes=5)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        first = await client.post("/v1/transactions", json=_payload("conflict-1", at))
        reused = await client.post(
            "/v1/transactions", json=_payload("conflict-1", at, amount="4200.00")
        )
        again = await client.post("/v1/transactions", json=_payload("conflict-1", at))
    assert first.status_code == 200
    assert reused.status_code == 409
    problem = reused.json()
    assert problem["type"] == "urn:vigil:problem:conflict"
    assert "different payload" in problem["detail"]
    assert [e["location"] for e in problem["errors"]] == ["$.amount"]
    assert again.json() == first.json()
