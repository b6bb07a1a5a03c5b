"""Through the real Serve graph: HTTP → gateway → features → (rules ‖ ensemble) → stream."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from client.gateway import Failure, GatewayClient, GatewayReply
from runtime import ray_cluster
from storage.codec import decode_entry
from storage.stream import DECISION_STREAM

StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]

pytestmark = pytest.mark.slow


def _payload(transaction_id: str, amount: str = "42.50") -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": "acct-serve-1",
        "amount": amount,
        "currency": "USD",
        "timestamp": "2026-01-05T10:00:00+00:00",
        "merchant_id": "mrc-1",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "ecommerce",
        "device_id": "dev-1",
        "ip_address": "192.0.2.7",
    }


async def test_posted_transaction_is_decided_and_streamed(
    gateway_url: str, redis_client: Redis
) -> None:
    """A POSTed transaction gets a full decision, and the same decision is on the stream."""
    async with GatewayClient(gateway_url) as client:
        reply = await client.score(_payload("serve-t1"))
    assert isinstance(reply, GatewayReply), reply
    assert reply.status == 200, reply.body
    decision = reply.body
    assert decision["transaction_id"] == "serve-t1"
    assert decision["outcome"] in {"allow", "review", "block"}
    assert 0.0 <= decision["risk_score"] <= 1.0
    assert decision["ruleset_version"] not in {"", "unavailable"}
    assert decision["model_version"] not in {"", "unavailable"}
    assert decision["degraded"] is False
    assert {"features", "rules", "ensemble", "total"} <= set(decision["latency_ms"])
    assert {s["name"] for s in decision["model_scores"]} == {
        "ensemble",
        "xgboost",
        "isolation_forest",
    }
    assert decision["features"]["amount"] == pytest.approx(42.5)

    entries = cast(StreamEntries, await redis_client.xrange(DECISION_STREAM))
    records = [decode_entry(str(entry_id), fields) for entry_id, fields in entries]
    stored = [r for r in records if r.transaction.transaction_id == "serve-t1"]
    assert len(stored) == 1
    assert stored[0].decision.risk_score == pytest.approx(decision["risk_score"])


async def test_ready_reports_the_scoring_versions(gateway_url: str) -> None:
    """/ready is 200 and names the rule-set and model versions the stages score with."""
    async with GatewayClient(gateway_url) as client:
        reply = await client.ready()
    assert isinstance(reply, GatewayReply), reply
    assert reply.status == 200, reply.body
    scoring = [c for c in reply.body["components"] if c["name"] == "scoring"]
    assert scoring
    assert scoring[0]["ready"] is True
    assert "ruleset_version=" in scoring[0]["detail"]
    assert "model_version=" in scoring[0]["detail"]


async def test_concurrent_requests_are_all_decided(gateway_url: str) -> None:
    """Forty concurrent requests (micro-batched at the gateway) each get their own decision."""
    async with GatewayClient(gateway_url) as client:
        replies = await asyncio.gather(
            *(client.score(_payload(f"serve-c{i}", f"{10 + i}.00")) for i in range(40))
        )
    ids = [r.body["transaction_id"] for r in replies if isinstance(r, GatewayReply) and r.ok]
    assert ids == [f"serve-c{i}" for i in range(40)]


async def test_scaling_a_live_deployment_drops_no_request(gateway_url: str) -> None:
    """Requests sent while `features` gets one more replica and back again all succeed."""
    stop = asyncio.Event()
    outcomes: Counter[str] = Counter()
    errors: list[str] = []

    async def keep_sending(client: GatewayClient, worker: int) -> None:
        sent = 0
        while not stop.is_set():
            sent += 1
            reply = await client.score(_payload(f"scale-{worker}-{sent}"))
            outcomes["failed" if isinstance(reply, Failure) else str(reply.status)] += 1
            if isinstance(reply, Failure) or not reply.ok:
                errors.append(str(reply))

    async with GatewayClient(gateway_url) as client:
        senders = [asyncio.create_task(keep_sending(client, w)) for w in range(4)]
        try:
            before = (await asyncio.to_thread(ray_cluster.app_state)).running_replicas("features")
            up = await asyncio.to_thread(ray_cluster.scale, "features", before + 1, timeout_s=240)
            down = await asyncio.to_thread(ray_cluster.scale, "features", before, timeout_s=240)
        finally:
            stop.set()
            await asyncio.gather(*senders)
    assert up.running_replicas("features") == before + 1
    assert down.running_replicas("features") == before
    assert set(outcomes) == {"200"}, (outcomes, errors[:5])
    assert outcomes["200"] > 0
