"""The stream → PostgreSQL writer against real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from core.models import Outcome
from core.records import DecisionRecord
from storage.database import create_engine
from storage.stream import (
    DEAD_LETTER_STREAM,
    DECISION_STREAM,
    WRITER_GROUP,
    DecisionStream,
    StreamId,
    stream_client,
    trim_acknowledged,
)
from storage.writer import StreamWriter, WriterConfig

MakeRecord = Callable[..., DecisionRecord]
FAST: dict[str, Any] = {"block_ms": 50, "retry_initial_s": 0.01, "retry_max_s": 0.05}


async def _append(redis: Redis, *records: DecisionRecord) -> list[str]:
    return await DecisionStream(redis).append_all(records)


async def _count(engine: AsyncEngine, table: str) -> int:
    query = text(f"SELECT count(*) FROM {table}")  # noqa: S608 - table names are literals here
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def _entries(redis: Redis, stream: str) -> list[tuple[str, dict[bytes, bytes]]]:
    """``(id, fields)`` of every entry in ``stream``."""
    return [(_text(i), cast(dict[bytes, bytes], f)) for i, f in await redis.xrange(stream) or []]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _pending(redis: Redis) -> int:
    return int((await redis.xpending(DECISION_STREAM, WRITER_GROUP))["pending"])


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (up to 60 s) until ``check`` holds; this waits for a state, it times nothing."""
    for _ in range(1200):
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"never happened: {what}")


def _writer(redis: Redis, engine: AsyncEngine, **config: Any) -> StreamWriter:
    return StreamWriter(redis, engine, WriterConfig(**{"consumer": "w1", **FAST, **config}))


@pytest.mark.parametrize("protocol", [2, 3])
async def test_batch_is_written_with_alerts_for_review_and_block_only(
    redis_client: Redis,
    redis_url: str,
    db_engine: AsyncEngine,
    make_record: MakeRecord,
    protocol: int,
) -> None:
    """Transactions and decisions are all stored; only review/block decisions become alerts.

    Both Redis protocols (RESP2, RESP3) give the writer the same entries.
    """
    outcomes = [Outcome.ALLOW, Outcome.REVIEW, Outcome.BLOCK] * 2
    await _append(redis_client, *[make_record(i, o) for i, o in enumerate(outcomes)])
    reader = stream_client(redis_url, protocol=protocol)
    report = await _writer(reader, db_engine).drain()
    await reader.aclose()
    assert (report.inserted.transactions, report.inserted.decisions) == (6, 6)
    assert report.inserted.alerts == 4
    assert await _count(db_engine, "transactions") == 6
    assert await _count(db_engine, "decisions") == 6
    async with db_engine.connect() as connection:
        alerted = (
            await connection.execute(text("SELECT transaction_id FROM alerts ORDER BY 1"))
        ).scalars()
        assert list(alerted) == ["t1", "t2", "t4", "t5"]
    assert await _pending(redis_client) == 0


async def test_entries_are_acknowledged_only_after_commit(
    redis_client: Redis, db_engine: AsyncEngine, database_url: str, make_record: MakeRecord
) -> None:
    """While a commit fails the entries stay pending and nothing is stored; then both happen."""
    engine = create_engine(database_url)
    failing = {"on": True}
    seen: list[tuple[int, int]] = []

    def fail_commit(connection: Any) -> None:
        if failing["on"]:
            raise OperationalError("COMMIT", None, OSError("simulated commit failure"))

    async def observe_then_recover(_seconds: float) -> None:
        seen.append((await _pending(redis_client), await _count(db_engine, "transactions")))
        failing["on"] = False

    event.listen(engine.sync_engine, "commit", fail_commit)
    await _append(redis_client, *[make_record(i) for i in range(3)])
    writer = StreamWriter(
        redis_client, engine, WriterConfig(consumer="w1", **FAST), sleep=observe_then_recover
    )
    await writer.drain()
    await engine.dispose()
    assert seen == [(3, 0)]
    assert await _count(db_engine, "transactions") == 3
    assert await _pending(redis_client) == 0


async def test_the_same_transaction_is_stored_once(
    redis_client: Redis, db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """Duplicates in a batch and across batches give one row per table; all are acknowledged."""
    record = make_record(7, Outcome.BLOCK)
    await _append(redis_client, record, record)
    first = await _writer(redis_client, db_engine).drain()
    await _append(redis_client, record)
    second = await _writer(redis_client, db_engine).drain()
    assert first.inserted.transactions == 1
    assert second.inserted.transactions == 0
    for table in ("transactions", "decisions", "alerts"):
        assert await _count(db_engine, table) == 1
    assert await _pending(redis_client) == 0


async def test_postgres_outage_delays_writes_and_loses_nothing(
    redis_client: Redis, db_engine: AsyncEngine, outage_proxy: Any, make_record: MakeRecord
) -> None:
    """With PostgreSQL unreachable entries wait pending; after recovery each is written once."""
    engine = create_engine(outage_proxy.url)
    outage_proxy.cut()
    writer = _writer(redis_client, engine)
    task = asyncio.create_task(writer.run())
    try:
        await _append(redis_client, *[make_record(i, Outcome.REVIEW) for i in range(5)])
        await _eventually(lambda: _failed_twice(writer), "two failed write attempts")
        assert await _count(db_engine, "transactions") == 0
        assert await _pending(redis_client) == 5
        outage_proxy.restore()
        await _eventually(lambda: _has_rows(db_engine, 5), "5 rows after recovery")
        await _append(redis_client, *[make_record(i, Outcome.REVIEW) for i in range(5, 7)])
        await _eventually(lambda: _has_rows(db_engine, 7), "7 rows")
    finally:
        writer.stop()
        await task
        await engine.dispose()
    assert await _count(db_engine, "alerts") == 7
    assert await _pending(redis_client) == 0


async def _failed_twice(writer: StreamWriter) -> bool:
    return writer.failed_attempts >= 2


async def _has_rows(engine: AsyncEngine, n: int) -> bool:
    return await _count(engine, "transactions") >= n


async def test_pending_entries_of_a_dead_consumer_are_claimed(
    redis_client: Redis, db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """Entries another consumer read and never acknowledged are claimed and written once."""
    writer = _writer(redis_client, db_engine, claim_idle_ms=0)
    await writer.ensure_group()
    await _append(redis_client, *[make_record(i) for i in range(3)])
    await redis_client.xreadgroup(WRITER_GROUP, "dead", {DECISION_STREAM: ">"}, count=10)
    report = await writer.drain()
    again = await _writer(redis_client, db_engine, claim_idle_ms=0).drain()
    consumers = {
        c["name"]: c["pending"]
        for c in await redis_client.xinfo_consumers(DECISION_STREAM, WRITER_GROUP)
    }
    assert report.inserted.transactions == 3
    assert again.read == 0
    assert consumers[b"dead"] == 0
    assert await _count(db_engine, "transactions") == 3


async def test_a_restarted_writer_writes_what_it_had_read(
    redis_client: Redis, db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """Entries read by a writer that crashed before writing are written by its successor."""
    writer = _writer(redis_client, db_engine)
    await writer.ensure_group()
    await _append(redis_client, *[make_record(i) for i in range(4)])
    await redis_client.xreadgroup(WRITER_GROUP, "w1", {DECISION_STREAM: ">"}, count=10)
    report = await _writer(redis_client, db_engine).drain()
    assert report.inserted.transactions == 4
    assert await _pending(redis_client) == 0


async def test_undecodable_entry_goes_to_the_dead_letter_stream(
    redis_client: Redis, db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """A corrupt entry is dead-lettered with its error and logged; the good ones are written."""
    await _append(redis_client, make_record(1))
    bad_id = _text(await redis_client.xadd(DECISION_STREAM, {"v": "1", "r": b"junk"}))
    await _append(redis_client, make_record(2))
    with capture_logs() as logs:
        report = await _writer(redis_client, db_engine).drain()
    ((_, dead),) = await _entries(redis_client, DEAD_LETTER_STREAM)
    assert report.dead_lettered == 1
    assert dead[b"source_id"].decode() == bad_id
    assert dead[b"f:r"] == b"junk"
    assert b"not a decision record" in dead[b"error"]
    assert {"event": "stream_entry_dead_lettered", "log_level": "error"}.items() <= next(
        e for e in logs if e["event"] == "stream_entry_dead_lettered"
    ).items()
    assert await _count(db_engine, "transactions") == 2
    assert await _pending(redis_client) == 0


async def test_data_postgres_refuses_is_dead_lettered_alone(
    redis_client: Redis, db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """A record PostgreSQL rejects (NUL in a text column) is dead-lettered; its batch is written.

    Intake refuses every transaction PostgreSQL would, so the poison here is in the decision's
    own text (a rule-set version with a NUL), which only a faulty engine could produce.
    """
    poison = make_record(2, ruleset_version="v\x00")
    await _append(redis_client, make_record(1), poison, make_record(3))
    report = await _writer(redis_client, db_engine).drain()
    ((_, dead),) = await _entries(redis_client, DEAD_LETTER_STREAM)
    assert report.dead_lettered == 1
    assert b"PostgreSQL rejected the record" in dead[b"error"]
    async with db_engine.connect() as connection:
        stored = (
            await connection.execute(text("SELECT transaction_id FROM transactions ORDER BY 1"))
        ).scalars()
        assert list(stored) == ["t1", "t3"]
    assert await _pending(redis_client) == 0


async def test_trimming_keeps_unacknowledged_entries(
    redis_client: Redis, make_record: MakeRecord
) -> None:
    """Acknowledged history is trimmed; the first unacknowledged entry and all after it stay."""
    await redis_client.xgroup_create(DECISION_STREAM, WRITER_GROUP, id="0", mkstream=True)
    ids = await _append(redis_client, *[make_record(i) for i in range(250)])
    await redis_client.xreadgroup(WRITER_GROUP, "c", {DECISION_STREAM: ">"}, count=210)
    await redis_client.xack(DECISION_STREAM, WRITER_GROUP, *ids[:200])
    removed = await trim_acknowledged(
        redis_client, DECISION_STREAM, retain_after=StreamId(2**62, 0)
    )
    remaining = [i for i, _ in await _entries(redis_client, DECISION_STREAM)]
    assert removed > 0
    assert set(ids[200:]) <= set(remaining)
    assert len(remaining) == 250 - removed


async def test_writer_trims_what_it_acknowledged(
    redis_client: Redis, db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """With no retention window, written history leaves the stream (whole nodes at a time)."""
    await _append(redis_client, *[make_record(i) for i in range(250)])
    writer = _writer(redis_client, db_engine, retain_acknowledged_ms=0, trim_every_s=0)
    await writer.drain()
    assert await redis_client.xlen(DECISION_STREAM) < 250
    assert await _count(db_engine, "transactions") == 250


async def test_entries_deleted_before_writing_are_reported_lost(
    redis_client: Redis, db_engine: AsyncEngine, make_record: MakeRecord
) -> None:
    """A pending entry someone deleted is logged as lost and acknowledged, not dead-lettered."""
    writer = _writer(redis_client, db_engine)
    await writer.ensure_group()
    (gone, _kept) = await _append(redis_client, make_record(1), make_record(2))
    await redis_client.xreadgroup(WRITER_GROUP, "w1", {DECISION_STREAM: ">"}, count=10)
    await redis_client.xdel(DECISION_STREAM, gone)
    with capture_logs() as logs:
        report = await _writer(redis_client, db_engine).drain()
    lost = next(e for e in logs if e["event"] == "stream_entries_lost")
    assert lost["entry_ids"] == [gone]
    assert report.dead_lettered == 0
    assert await _count(db_engine, "transactions") == 1
    assert await _pending(redis_client) == 0
