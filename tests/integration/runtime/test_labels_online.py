"""A label posted to the running engine changes the next transaction's label-aware features.

Through the real Ray Serve gateway: the label is stored in PostgreSQL, pushed to the features
deployment (one ``record_labels`` call) and counted by the very next transaction at the same
merchant, with no restart and no wait.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from client.gateway import GatewayClient, GatewayReply
from core.labels import LabelStatus
from storage.writer import StreamWriter
from tests.faults.conftest import eventually, stored_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURE = "fraud_count_by_merchant_30d_delay1d"


def _payload(transaction_id: str, at: datetime) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": f"acct-{transaction_id}",
        "amount": "80.00",
        "currency": "EUR",
        "timestamp": at.isoformat(),
        "merchant_id": "mrc-compromised",
        "merchant_category": "5732",
        "country": "FR",
        "channel": "pos",
    }


async def _features(client: GatewayClient, payload: dict[str, Any]) -> dict[str, Any]:
    reply = await client.score(payload)
    assert isinstance(reply, GatewayReply), reply
    assert reply.ok, reply.body
    features: dict[str, Any] = reply.body["features"]
    return features


async def test_a_posted_label_counts_for_the_next_transaction(
    gateway_url: str, redis_client: Redis, stream_writer: StreamWriter, db_engine: AsyncEngine
) -> None:
    """Fraud labelled on a merchant's earlier payment shows in its next payment's features."""
    del redis_client, stream_writer  # Redis emptied first; the writer stores what is scored
    now = datetime.now(UTC)
    async with GatewayClient(gateway_url) as client:
        assert (await _features(client, _payload("lbl-a", now - timedelta(days=3))))[FEATURE] == 0

        async def stored() -> bool:
            return "lbl-a" in await stored_ids(db_engine)

        await eventually(stored, "the labelled transaction in PostgreSQL", within_s=30)
        before = await _features(client, _payload("lbl-b", now - timedelta(minutes=10)))
        result = await client.send_labels(
            [
                {
                    "transaction_id": "lbl-a",
                    "label": "fraud",
                    "known_at": (now - timedelta(days=2)).isoformat(),
                    "source": "chargeback",
                }
            ]
        )
        posted = time.monotonic()
        after = await _features(client, _payload("lbl-c", now - timedelta(minutes=5)))
        seen_after_s = time.monotonic() - posted
    assert [item.status for item in result.items] == [LabelStatus.RECORDED]
    assert result.online
    assert before[FEATURE] == 0
    assert after[FEATURE] == 1
    assert seen_after_s < 1.0
