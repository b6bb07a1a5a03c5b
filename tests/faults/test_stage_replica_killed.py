"""The only ``rules`` or ``ensemble`` replica killed under load: decisions keep coming, degraded.

Both stages run one replica by default with the ``fail_open`` policy (each is a full decision maker
on its own), so while Serve replaces a killed replica the gateway decides from the stage that still
answers: every request gets a 200, the ones decided without the dead stage carry ``degraded: true``
and its failure as their first reason, and every decision returned is stored once.

Runs on the session's engine; the test waits until Serve has replaced the replica, so later tests
find the engine whole.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from client.gateway import Failure, GatewayClient
from client.load import send_at_rate
from runtime import ray_cluster
from storage.writer import StreamWriter
from tests.faults.conftest import eventually, kill_replicas, longest_gap, report, stored_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE = 20.0
KILL_AFTER_S, RUN_S = 5.0, 25.0


def _payloads(stage: str, count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "transaction_id": f"{stage}-kill-{i}",
            "account_id": f"acct-{stage}-{i % 40}",
            "amount": "23.00",
            "currency": "EUR",
            "timestamp": now,
            "merchant_id": f"mrc-{stage}",
            "merchant_category": "5411",
            "country": "FR",
            "channel": "pos",
        }
        for i in range(count)
    ]


@pytest.mark.parametrize("stage", ["rules", "ensemble"])
async def test_a_killed_stage_replica_degrades_instead_of_failing(
    stage: str,
    gateway_url: str,
    redis_client: Redis,
    stream_writer: StreamWriter,
    db_engine: AsyncEngine,
) -> None:
    """Kill the stage's replicas at 20 requests/s: every request is answered (some degraded),
    every answer is stored once, and Serve restores the replica."""
    del redis_client, stream_writer  # Redis emptied first; the writer stores what is returned
    replicas = (await asyncio.to_thread(ray_cluster.app_state)).running_replicas(stage)
    payloads = _payloads(stage, int(RUN_S * RATE))
    answered: list[tuple[str, float]] = []
    statuses: Counter[str] = Counter()
    degraded = 0
    killed: list[str] = []

    async def kill_later() -> float:
        await asyncio.sleep(KILL_AFTER_S)
        killed.extend(await asyncio.to_thread(kill_replicas, stage))
        return time.monotonic()

    killer = asyncio.ensure_future(kill_later())
    async with GatewayClient(gateway_url, timeout_s=30) as client:
        async for payload, reply in send_at_rate(client.score, payloads, rate=RATE):
            status = "no answer" if isinstance(reply, Failure) else str(reply.status)
            statuses[status] += 1
            if not isinstance(reply, Failure) and reply.ok:
                answered.append((str(payload["transaction_id"]), time.monotonic()))
                degraded += bool(reply.body.get("degraded"))
    killed_at = await killer
    restored = await asyncio.to_thread(
        ray_cluster.wait_until_running, timeout_s=120, replicas={stage: replicas}
    )
    restored_s = time.monotonic() - killed_at
    ids = {transaction_id for transaction_id, _ in answered}

    async def all_persisted() -> bool:
        return ids <= set(await stored_ids(db_engine))

    await eventually(all_persisted, "every returned decision in PostgreSQL", within_s=60)
    stored = await stored_ids(db_engine)
    report(
        f"{stage}_replica_killed",
        replicas=replicas,
        sent=len(payloads),
        returned=len(answered),
        degraded=degraded,
        in_postgres=len(stored),
        duplicates=len(stored) - len(set(stored)),
        statuses=dict(sorted(statuses.items())),
        longest_gap_between_answers_s=f"{longest_gap([at for _, at in answered]):.1f}",
        replacement_running_after_s=f"{restored_s:.0f}",
    )
    assert killed, f"no {stage} replica was found to kill"
    assert restored.running_replicas(stage) == replicas
    assert statuses == Counter({"200": len(payloads)}), statuses  # fail_open: never a 503
    assert degraded > 0, "no decision was made without the killed stage"
    assert len(stored) == len(set(stored))
    assert ids <= set(stored)
