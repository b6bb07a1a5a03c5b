"""What the stream writer tells its observer (metrics): committed batches, rows and lag."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import ManualClock
from core.models import Outcome
from core.records import DecisionRecord
from storage.database import create_engine
from storage.persist import InsertCounts
from storage.stream import DecisionStream
from storage.writer import StreamWriter, WriterConfig

MakeRecord = Callable[..., DecisionRecord]
FAST: dict[str, Any] = {"block_ms": 50, "retry_initial_s": 0.01, "retry_max_s": 0.05}


class RecordingObserver:
    """Keeps every call."""

    def __init__(self) -> None:
        self.committed: list[tuple[int, InsertCounts, float]] = []
        self.lags: list[float] = []

    def batch_committed(self, *, entries: int, rows: InsertCounts, lag_s: float) -> None:
        self.committed.append((entries, rows, lag_s))

    def lagging(self, lag_s: float) -> None:
        self.lags.append(lag_s)


async def _append(redis: Redis, *records: DecisionRecord) -> None:
    await DecisionStream(redis).append_all(records)


async def test_a_committed_batch_is_reported_then_the_writer_is_caught_up(
    redis_client: Redis, db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """One batch: its entries, rows per table and a small lag; then lag 0 when nothing is left."""
    await _append(redis_client, make_record(0), make_record(1, Outcome.BLOCK), make_record(2))
    observer = RecordingObserver()
    writer = StreamWriter(
        redis_client, db_engine, WriterConfig(consumer="w1", **FAST), observer=observer
    )
    await writer.drain()
    assert len(observer.committed) == 1
    entries, rows, lag_s = observer.committed[0]
    assert entries == 3
    assert rows == InsertCounts(transactions=3, decisions=3, alerts=1)
    assert 0.0 <= lag_s < 60.0
    assert observer.lags == [0.0]


async def test_a_failing_write_reports_the_age_of_the_waiting_entries(
    redis_client: Redis, database_url: str, make_record: MakeRecord
) -> None:
    """While commits fail, each retry reports how old the oldest waiting entry is."""
    engine = create_engine(database_url)
    failing = {"left": 2}

    def fail_commit(connection: Any) -> None:
        if failing["left"] > 0:
            failing["left"] -= 1
            raise OperationalError("COMMIT", None, OSError("simulated commit failure"))

    event.listen(engine.sync_engine, "commit", fail_commit)
    await _append(redis_client, make_record(0), make_record(1))
    observer = RecordingObserver()
    clock = ManualClock(datetime.now(UTC) + timedelta(minutes=10))
    writer = StreamWriter(
        redis_client, engine, WriterConfig(consumer="w1", **FAST), clock=clock, observer=observer
    )
    try:
        await writer.drain()
    finally:
        await engine.dispose()
    retries, caught_up = observer.lags[:2], observer.lags[2:]
    assert len(retries) == 2
    assert all(lag > 9 * 60 for lag in retries)  # the entries are ~10 minutes old by that clock
    assert [entries for entries, _, _ in observer.committed] == [2]
    assert caught_up == [0.0]
