"""The admin API through the real Serve graph: list deployments, scale rules live, rule versions."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

pytestmark = pytest.mark.slow

T = TypeVar("T")
DEADLINE_S = 240.0
DEPLOYMENTS = ["gateway", "features", "rules", "ensemble"]


async def eventually(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``check`` until it returns something truthy (replicas take a while to start)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.5)


def _payload(transaction_id: str) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": "acct-admin-1",
        "amount": "12.00",
        "currency": "EUR",
        "timestamp": "2026-01-07T10:00:00+00:00",
        "merchant_id": "mrc-admin",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "pos",
    }


async def _deployment(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.get("/v1/admin/deployments")
    assert response.status_code == 200, response.text
    [deployment] = [d for d in response.json() if d["name"] == name]
    return dict(deployment)


async def _rule_versions(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/v1/admin/rules")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_deployments_are_listed_healthy(gateway_url: str) -> None:
    """All four deployments are listed with a status and running replicas meeting the target."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        response = await client.get("/v1/admin/deployments")
    assert response.status_code == 200
    deployments = response.json()
    assert [d["name"] for d in deployments] == DEPLOYMENTS
    for deployment in deployments:
        assert set(deployment) == {"name", "status", "replicas", "message"}
        assert deployment["status"] == "HEALTHY"
        assert deployment["replicas"]["target"] >= 1
        assert deployment["replicas"]["running"] == deployment["replicas"]["target"]


async def test_scaling_rules_to_two_and_back_through_the_api(gateway_url: str) -> None:
    """Scaling answers 202 at once; both rules replicas then report their version; scaling
    back leaves one; requests sent meanwhile all succeed."""
    stop = asyncio.Event()
    statuses: Counter[str] = Counter()

    async def keep_sending(client: httpx.AsyncClient, worker: int) -> None:
        sent = 0
        while not stop.is_set():
            sent += 1
            try:
                reply = await client.post("/v1/transactions", json=_payload(f"adm-{worker}-{sent}"))
                statuses[str(reply.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1

    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:

        async def one_reporting() -> dict[str, Any] | None:
            # Reports live in Redis, which other tests empty; the replica re-announces each poll.
            versions = await _rule_versions(client)
            return versions if len(versions["versions"]) == 1 and versions["active"] else None

        one = await eventually(one_reporting, "the rules replica to report its version")
        senders = [asyncio.create_task(keep_sending(client, w)) for w in range(3)]
        try:
            response = await client.post("/v1/admin/deployments/rules/scale", json={"replicas": 2})
            assert response.status_code == 202, response.text
            assert response.json() == {"name": "rules", "target": 2}

            async def two_running() -> bool:
                rules = await _deployment(client, "rules")
                return bool(rules["replicas"] == {"target": 2, "running": 2})

            await eventually(two_running, "two running rules replicas")

            async def two_reporting() -> dict[str, Any] | None:
                versions = await _rule_versions(client)
                return versions if len(versions["versions"]) == 2 else None

            both = await eventually(two_reporting, "both rules replicas to report a version")
            assert set(both["versions"].values()) == {one["active"]}
            assert both["active"] == one["active"]

            response = await client.post("/v1/admin/deployments/rules/scale", json={"replicas": 1})
            assert response.status_code == 202, response.text

            async def back_to_one() -> bool:
                rules = await _deployment(client, "rules")
                versions = await _rule_versions(client)
                return bool(
                    rules["replicas"] == {"target": 1, "running": 1}
                    and len(versions["versions"]) == 1
                )

            await eventually(back_to_one, "one rules replica again")
        finally:
            stop.set()
            await asyncio.gather(*senders)
    assert set(statuses) == {"200"}, statuses
    assert statuses["200"] > 0
