"""Two engines on one host: when one's gateway replica dies, no other engine answers its traffic.

Engine A is the session's engine (``tests/engine_fixtures.py``, Ray in this process); engine B is
a ``vigil up --no-ui`` subprocess with its own data dir, PostgreSQL database, Redis database, rule
set (the starter rules plus a comment: another content hash) and model (``artifacts/default``,
not A's). Both start at once (about 1-2 minutes on two cores). A's gateway replica is killed 5 s
into 25 s of 20 requests/s to A. Every answer must carry A's rule-set and model versions, every
decision returned must be in A's database once, and none of A's transactions may reach B's
database. B is then crashed (SIGKILL) and cleaned up with ``vigil down``.

Before each engine had its own ports, both engines' Serve fallback proxies (HAProxy's ``backup``
server) bound 127.0.0.1:8500 with ``SO_REUSEPORT``, so A's HAProxy sent part of its traffic to B.

Everything is sent to 127.0.0.1 only. Run it alone, by hand::

    uv run python -m tests.faults.test_two_engines
    # or: uv run pytest tests/faults/test_two_engines.py -m slow -s
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from client.gateway import Failure, GatewayClient, GatewayReply
from client.load import send_at_rate
from config.settings import CONFIG_DIR
from storage.database import create_engine
from storage.writer import StreamWriter
from tests.conftest import DatabaseFactory
from tests.faults.conftest import (
    eventually,
    kill_replicas,
    leased_redis_database,
    longest_gap,
    report,
    stored_ids,
)
from tests.faults.engine_process import EngineProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE = 20.0
KILL_AFTER_S, RUN_S = 5.0, 25.0
READY_WITHIN_S = 240.0


@pytest.fixture(scope="session")
async def other_engine(
    _database_factory: DatabaseFactory, _redis_server_url: str
) -> AsyncIterator[EngineProcess]:
    """Engine B, started (not awaited: it boots while the session engine does) and, at the end,
    crashed and cleaned up with `vigil down`."""
    directory = Path(tempfile.mkdtemp(prefix="vigil-engine-b-"))
    rules = directory / "rules"
    shutil.copytree(CONFIG_DIR / "rules", rules)
    first = sorted(rules.glob("*.yaml"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n# engine B\n", encoding="utf-8")
    async with leased_redis_database(_redis_server_url) as redis_url:
        engine = EngineProcess.services(
            directory / "data",
            database_url=await _database_factory(),
            redis_url=redis_url,
            rules_dir=str(rules),
        )
        engine.up("--no-ui")
        try:
            yield engine
        finally:
            if engine.process is not None and engine.process.poll() is None:
                engine.kill()
            engine.down()
    shutil.rmtree(directory, ignore_errors=True)


def _payloads(count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "transaction_id": f"two-eng-{i}",
            "account_id": f"acct-te-{i % 40}",
            "amount": "27.00",
            "currency": "EUR",
            "timestamp": now,
            "merchant_id": "mrc-te",
            "merchant_category": "5411",
            "country": "FR",
            "channel": "pos",
        }
        for i in range(count)
    ]


async def _versions(url: str, transaction_id: str) -> tuple[str, str]:
    payload = {**_payloads(1)[0], "transaction_id": transaction_id}
    async with GatewayClient(url) as client:
        reply = await client.score(payload)
    assert isinstance(reply, GatewayReply), reply
    assert reply.status == 200, reply
    return reply.body["ruleset_version"], reply.body["model_version"]


async def test_a_dead_gateway_is_never_answered_by_another_engine(
    other_engine: EngineProcess,
    gateway_url: str,
    redis_client: Redis,
    stream_writer: StreamWriter,
    db_engine: AsyncEngine,
) -> None:
    """A's gateway killed under load: 0 answers from B, every decision returned stored in A once."""
    del redis_client, stream_writer  # A's Redis emptied, A's writer running
    started = time.monotonic()
    await asyncio.to_thread(other_engine.wait_ready, timeout_s=READY_WITHIN_S)
    ours = await _versions(gateway_url, "two-eng-probe-a")
    theirs = await _versions(other_engine.gateway_url, "two-eng-probe-b")
    assert ours[0] != theirs[0]
    assert ours[1] != theirs[1]

    payloads = _payloads(int(RUN_S * RATE))
    answered: list[tuple[str, float]] = []
    by_other: list[str] = []
    statuses: Counter[str] = Counter()

    async def kill_later() -> None:
        await asyncio.sleep(KILL_AFTER_S)
        assert await asyncio.to_thread(kill_replicas, "gateway"), "no gateway replica to kill"

    load_started = time.monotonic()
    killer = asyncio.ensure_future(kill_later())
    async with GatewayClient(gateway_url, timeout_s=30) as client:
        async for payload, reply in send_at_rate(client.score, payloads, rate=RATE):
            if isinstance(reply, Failure):
                statuses["no answer"] += 1
                continue
            statuses[str(reply.status)] += 1
            if reply.status == 200:
                versions = (reply.body["ruleset_version"], reply.body["model_version"])
                if versions != ours:
                    by_other.append(str(payload["transaction_id"]))
                answered.append((str(payload["transaction_id"]), time.monotonic()))
    await killer
    ids = {transaction_id for transaction_id, _ in answered}
    ours_ids = ids - set(by_other)  # what B answered is in B's database, never in A's

    async def all_persisted() -> bool:
        return ours_ids <= set(await stored_ids(db_engine))

    await eventually(all_persisted, "every decision returned by A in A's database", within_s=60)
    stored = [
        i for i in await stored_ids(db_engine) if i.startswith("two-eng-") and "probe" not in i
    ]
    other_database = create_engine(other_engine.env["VIGIL_DATABASE_URL"])
    try:
        in_other = [
            i
            for i in await stored_ids(other_database)
            if i.startswith("two-eng-") and "probe" not in i
        ]
    finally:
        await other_database.dispose()
    report(
        "two_engines_gateway_killed",
        sent=len(payloads),
        returned=len(answered),
        answered_by_other_engine=len(by_other),
        in_postgres=len(stored),
        in_other_engines_postgres=len(in_other),
        duplicates=len(stored) - len(set(stored)),
        statuses=dict(sorted(statuses.items())),
        longest_gap_between_answers_s=f"{longest_gap([at for _, at in answered]):.1f}",
        run_s=f"{time.monotonic() - started:.0f}",
    )
    assert by_other == []
    assert in_other == []
    assert len(stored) == len(set(stored))
    assert ids <= set(stored)
    # Requests in flight on the killed replica die with it (no answer or a 502); never Ray's
    # blanket 500, and no more than a second's worth.
    assert set(statuses) <= {"200", "502", "503", "no answer"}, statuses
    assert sum(statuses.values()) - statuses["200"] <= RATE, statuses
    assert any(at > load_started + KILL_AFTER_S + 1 for _, at in answered), "A never came back"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-m", "slow", "-s", "-p", "no:cacheprovider"]))
