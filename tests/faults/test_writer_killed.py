"""The stream writer killed (SIGKILL) in the middle of a batch: its successor claims the
entries the dead one had read, and each decision lands in PostgreSQL exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.models import Outcome
from core.records import DecisionRecord
from storage.codec import encode_entry
from storage.stream import DECISION_STREAM, WRITER_GROUP
from storage.writer import StreamWriter, WriterConfig
from tests.faults.conftest import eventually, report, stored_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MakeRecord = Callable[..., DecisionRecord]
RECORDS = 600


def _writer_process(database_url: str, redis_url: str) -> subprocess.Popen[bytes]:
    """``vigil writer`` as its own process, configured only through VIGIL_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env |= {"VIGIL_DATABASE_URL": database_url, "VIGIL_REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "writer"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _pending_by_consumer(redis: Redis) -> dict[str, int]:
    try:
        consumers = await redis.xinfo_consumers(DECISION_STREAM, WRITER_GROUP)
    except ResponseError:  # the writer has not created its group yet
        return {}
    return {c["name"].decode(): int(c["pending"]) for c in consumers}


async def test_a_writer_killed_mid_batch_loses_and_duplicates_nothing(
    database_url: str,
    redis_url: str,
    db_engine: AsyncEngine,
    redis_client: Redis,
    make_record: MakeRecord,
) -> None:
    """Kill -9 the writer while its batch insert waits on a lock; a new writer stores each once."""
    records = [
        make_record(i, Outcome.REVIEW if i % 10 == 0 else Outcome.ALLOW) for i in range(RECORDS)
    ]
    async with redis_client.pipeline(transaction=False) as pipe:
        for record in records:
            pipe.xadd(DECISION_STREAM, encode_entry(record))  # type: ignore[arg-type,unused-awaitable]
        await pipe.execute()

    async with db_engine.connect() as blocker:
        # The writer reads a batch, then its INSERT waits on this lock: killed mid-batch.
        await blocker.execute(text("LOCK TABLE transactions IN ACCESS EXCLUSIVE MODE"))
        process = _writer_process(database_url, redis_url)
        try:

            async def a_batch_is_in_flight() -> bool:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                return any(n > 0 for n in (await _pending_by_consumer(redis_client)).values())

            await eventually(a_batch_is_in_flight, "the writer read a batch", within_s=60)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            if process.stderr is not None:
                process.stderr.close()
        in_flight = sum((await _pending_by_consumer(redis_client)).values())
        await blocker.rollback()
    assert await stored_ids(db_engine) == []

    killed_at = time.monotonic()
    successor = StreamWriter(
        redis_client, db_engine, WriterConfig(consumer="successor", claim_idle_ms=0)
    )
    await successor.drain()
    recovery_s = time.monotonic() - killed_at
    stored = await stored_ids(db_engine)
    alerts = await stored_ids(db_engine, "alerts")
    pending = int((await redis_client.xpending(DECISION_STREAM, WRITER_GROUP))["pending"])

    report(
        "writer_killed_mid_batch",
        sent=RECORDS,
        in_flight_when_killed=in_flight,
        in_postgres=len(stored),
        duplicates=len(stored) - len(set(stored)),
        pending_after=pending,
        recovery_s=f"{recovery_s:.2f}",
    )
    assert in_flight > 0
    assert sorted(stored) == sorted(r.transaction.transaction_id for r in records)
    assert len(alerts) == len(set(alerts)) == RECORDS // 10
    assert pending == 0
