"""One of the two ``features`` replicas killed under load: the other one keeps scoring.

``features`` runs with the ``reject`` policy (no decision without the account's history), so with
one replica its death was a full outage (503s for about 30 s, until Serve had started a
replacement). ``config/serve.yaml`` now runs two: only the micro-batches in flight on the killed
replica fail (503, safe to retry), and every decision returned is stored once.

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
from tests.faults.conftest import eventually, kill_some_replicas, longest_gap, report, stored_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE = 20.0
KILL_AFTER_S, RUN_S = 5.0, 30.0


def _payloads(count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "transaction_id": f"feat-kill-{i}",
            "account_id": f"acct-fk-{i % 40}",
            "amount": "19.00",
            "currency": "EUR",
            "timestamp": now,
            "merchant_id": "mrc-fk",
            "merchant_category": "5411",
            "country": "FR",
            "channel": "pos",
        }
        for i in range(count)
    ]


async def test_a_killed_features_replica_is_not_an_outage(
    gateway_url: str, redis_client: Redis, stream_writer: StreamWriter, db_engine: AsyncEngine
) -> None:
    """Kill one of two features replicas at 20 requests/s: a few 503s, no gap, nothing lost."""
    del redis_client, stream_writer  # Redis emptied first; the writer stores what is returned
    state = await asyncio.to_thread(ray_cluster.app_state)
    replicas = state.running_replicas("features")
    assert replicas >= 2, f"features runs {replicas} replica(s); config/serve.yaml says 2"
    payloads = _payloads(int(RUN_S * RATE))
    answered: list[tuple[str, float]] = []
    failed_at: list[float] = []
    statuses: Counter[str] = Counter()
    killed: list[str] = []

    async def kill_later() -> float:
        await asyncio.sleep(KILL_AFTER_S)
        killed.extend(await asyncio.to_thread(kill_some_replicas, "features", limit=1))
        return time.monotonic()

    killer = asyncio.ensure_future(kill_later())
    async with GatewayClient(gateway_url, timeout_s=30) as client:
        async for payload, reply in send_at_rate(client.score, payloads, rate=RATE):
            status = "no answer" if isinstance(reply, Failure) else str(reply.status)
            statuses[status] += 1
            if status == "200":
                answered.append((str(payload["transaction_id"]), time.monotonic()))
            else:
                failed_at.append(time.monotonic())
    killed_at = await killer
    replaced_after = await asyncio.to_thread(
        ray_cluster.wait_until_running, timeout_s=120, replicas={"features": replicas}
    )
    replaced_s = time.monotonic() - killed_at
    ids = {transaction_id for transaction_id, _ in answered}

    async def all_persisted() -> bool:
        return ids <= set(await stored_ids(db_engine))

    await eventually(all_persisted, "every returned decision in PostgreSQL", within_s=60)
    stored = await stored_ids(db_engine)
    failure_window = max(failed_at) - min(failed_at) if failed_at else 0.0
    report(
        "features_replica_killed",
        replicas=replicas,
        sent=len(payloads),
        returned=len(answered),
        in_postgres=len(stored),
        duplicates=len(stored) - len(set(stored)),
        statuses=dict(sorted(statuses.items())),
        failures_within_s=f"{failure_window:.1f}",
        longest_gap_between_answers_s=f"{longest_gap([at for _, at in answered]):.1f}",
        replacement_running_after_s=f"{replaced_s:.0f}",
    )
    assert killed, "no features replica was found to kill"
    assert replaced_after.running_replicas("features") == replicas
    assert len(stored) == len(set(stored))
    assert ids <= set(stored)
    assert set(statuses) <= {"200", "503"}, statuses  # `reject`: 503, never a 500
    assert len(failed_at) <= 2 * RATE, statuses  # at most about two seconds' worth
    assert longest_gap([at for _, at in answered]) < 3.0
