"""The gateway replica killed (its Ray actor, no restart) under load: Serve replaces it, clients
see errors only while no replica is up, and every decision a client received is persisted once.

Runs on the session's engine (Ray and the Serve application of ``tests/engine_fixtures.py``);
the test waits until the replacement replica answers, so later tests find the engine whole.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from client.gateway import GatewayClient, GatewayReply
from client.load import send_at_rate
from storage.writer import StreamWriter
from tests.faults.conftest import eventually, report, stored_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE = 20.0
KILL_AFTER_S, RUN_S = 5.0, 40.0
GATEWAY_REPLICA = "SERVE_REPLICA::vigil#gateway#"


def _payloads(count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "transaction_id": f"gw-kill-{i}",
            "account_id": f"acct-gk-{i % 40}",
            "amount": "31.00",
            "currency": "EUR",
            "timestamp": now,
            "merchant_id": "mrc-gk",
            "merchant_category": "5411",
            "country": "FR",
            "channel": "pos",
        }
        for i in range(count)
    ]


def _longest_gap(times: list[float]) -> float:
    ordered = sorted(times)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0.0)


def _kill_gateway_replicas() -> list[str]:
    import ray  # noqa: PLC0415 - the session's Ray, started by the gateway_url fixture

    names = [
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["name"].startswith(GATEWAY_REPLICA)
    ]
    for name in names:
        ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
    return names


async def test_a_killed_gateway_replica_loses_no_returned_decision(
    gateway_url: str, redis_client: Redis, stream_writer: StreamWriter, db_engine: AsyncEngine
) -> None:
    """Kill the gateway 5 s into a 40 s load: after Serve replaces it, every 200 is stored once."""
    del redis_client, stream_writer  # Redis emptied first (earlier runs' ids would be replays)
    payloads = _payloads(int(RUN_S * RATE))
    returned: list[tuple[str, float]] = []
    failures = 0
    killed: list[str] = []
    started = time.monotonic()

    async def kill_later() -> float:
        await asyncio.sleep(KILL_AFTER_S)
        killed.extend(await asyncio.to_thread(_kill_gateway_replicas))
        return time.monotonic()

    killer = asyncio.ensure_future(kill_later())
    async with GatewayClient(gateway_url, timeout_s=30) as client:
        async for payload, reply in send_at_rate(client.score, payloads, rate=RATE):
            if isinstance(reply, GatewayReply) and reply.status == 200:
                returned.append((str(payload["transaction_id"]), time.monotonic()))
            else:
                failures += 1
    killed_at = await killer
    ids = [transaction_id for transaction_id, _ in returned]

    async def all_persisted() -> bool:
        return set(ids) <= set(await stored_ids(db_engine))

    await eventually(all_persisted, "every returned decision in PostgreSQL", within_s=60)
    stored = await stored_ids(db_engine)

    answered_again = [at for _, at in returned if at > killed_at]
    report(
        "gateway_replica_killed",
        sent=len(payloads),
        returned=len(returned),
        in_postgres=len(stored),
        duplicates=len(stored) - len(set(stored)),
        failures=failures,
        stored_but_not_returned=len(set(stored) - set(ids)),
        longest_gap_between_answers_s=f"{_longest_gap([at for _, at in returned]):.1f}",
        run_s=f"{time.monotonic() - started:.0f}",
    )
    assert killed, "no gateway replica was found to kill"
    assert answered_again, "the gateway never answered again after the kill"
    assert len(stored) == len(set(stored))
    assert set(ids) <= set(stored)
