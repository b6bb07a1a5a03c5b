"""structlog events batched into the logs table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import ManualClock
from storage.database import create_engine
from storage.logs import LogBuffer, LogFlusher

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


async def _logged(engine: AsyncEngine) -> list[tuple[str, str, str | None, dict[str, object]]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT event, level, transaction_id, payload FROM logs ORDER BY id")
        )
        return [(r.event, r.level, r.transaction_id, r.payload) for r in rows]


async def test_events_are_written_in_order(db_engine: AsyncEngine) -> None:
    """Queued events land in the table with their level, transaction id and payload."""
    buffer = LogBuffer(clock=ManualClock(NOW))
    buffer(None, "info", {"event": "transaction_scored", "transaction_id": "t1", "ms": 3.5})
    buffer(None, "warning", {"event": "rule_failed", "rule_id": "r9"})
    written = await LogFlusher(buffer, db_engine).flush()
    assert written == 2
    assert await _logged(db_engine) == [
        ("transaction_scored", "info", "t1", {"transaction_id": "t1", "ms": 3.5}),
        ("rule_failed", "warning", None, {"rule_id": "r9"}),
    ]


async def test_events_wait_out_an_outage(db_engine: AsyncEngine) -> None:
    """A failed flush keeps the events; the next flush to a working database writes them."""
    buffer = LogBuffer(clock=ManualClock(NOW))
    buffer(None, "info", {"event": "a"})
    down = create_engine("postgresql+asyncpg://vigil@127.0.0.1:1/vigil")
    with pytest.raises(OSError, match="Connect call failed"):
        await LogFlusher(buffer, down).flush()
    await down.dispose()
    assert len(buffer) == 1
    await LogFlusher(buffer, db_engine).flush()
    assert [row[0] for row in await _logged(db_engine)] == ["a"]


async def test_dropped_events_leave_a_visible_mark(db_engine: AsyncEngine) -> None:
    """Events dropped from a full queue are reported by a log_events_dropped row."""
    buffer = LogBuffer(capacity=1, clock=ManualClock(NOW))
    for name in ("a", "b", "c"):
        buffer(None, "info", {"event": name})
    await LogFlusher(buffer, db_engine, clock=ManualClock(NOW)).flush()
    logged = await _logged(db_engine)
    assert [row[0] for row in logged] == ["c", "log_events_dropped"]
    assert logged[1][3]["count"] == 2


async def test_client_text_with_nul_does_not_block_the_table(db_engine: AsyncEngine) -> None:
    """U+0000 (refused by jsonb and text) is stored as U+FFFD; this flush and later ones succeed."""
    buffer = LogBuffer(clock=ManualClock(NOW))
    path = "/v1/transactions/t\x00x"
    buffer(
        None, "info", {"event": "request_completed", "http_path": path, "transaction_id": "t\x00"}
    )
    buffer(None, "info", {"event": "after"})
    assert await LogFlusher(buffer, db_engine).flush() == 2
    logged = await _logged(db_engine)
    assert [row[0] for row in logged] == ["request_completed", "after"]
    assert logged[0][2] == "t\ufffd"
    assert logged[0][3]["http_path"] == "/v1/transactions/t\ufffdx"
