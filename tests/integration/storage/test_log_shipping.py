"""LogShipping: a process's buffered events flushed to the logs table by a background task."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import ManualClock
from storage.log_shipping import LogShipping

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


async def _events(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT event FROM logs ORDER BY id"))
        return [row.event for row in rows]


async def test_closing_flushes_what_is_queued(database_url: str, db_engine: AsyncEngine) -> None:
    """Events queued while the task runs are in the table once the shipping is closed."""
    shipping = LogShipping(database_url, interval_s=60.0, clock=ManualClock(NOW))
    shipping.start()
    assert shipping.running
    shipping.buffer(None, "info", {"event": "request_completed", "status": 200})
    shipping.buffer(None, "info", {"event": "transaction_scored", "transaction_id": "t1"})
    await shipping.aclose()
    assert await _events(db_engine) == ["request_completed", "transaction_scored"]


async def test_the_task_flushes_without_being_closed(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """The running task writes the queue on its own every interval."""
    shipping = LogShipping(database_url, interval_s=0.05)
    shipping.start()
    shipping.start()  # idempotent: still one task
    try:
        shipping.buffer(None, "info", {"event": "ruleset_loaded"})
        for _ in range(200):
            if await _events(db_engine):
                break
            await asyncio.sleep(0.05)
        assert await _events(db_engine) == ["ruleset_loaded"]
    finally:
        await shipping.aclose()


async def test_an_unreachable_database_keeps_events_and_never_blocks_closing() -> None:
    """With PostgreSQL away, closing gives up within its timeout and the events stay queued."""
    shipping = LogShipping("postgresql+asyncpg://vigil@127.0.0.1:1/vigil", interval_s=60.0)
    shipping.start()
    shipping.buffer(None, "info", {"event": "writer_started"})
    await shipping.aclose(timeout_s=10.0)
    assert not shipping.running
    assert len(shipping.buffer) >= 1
