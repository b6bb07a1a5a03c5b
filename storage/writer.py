"""The stream → PostgreSQL writer: at-least-once delivery, exactly-once rows.

Each step takes one batch of entries for this consumer (its own unacknowledged entries first after
a start, then entries idle too long at dead consumers via ``XAUTOCLAIM``, otherwise new entries
via ``XREADGROUP ... BLOCK``), inserts transactions, decisions and alerts in ONE database
transaction with ``ON CONFLICT DO NOTHING``, and acknowledges the entries only after the commit.

* PostgreSQL down: the batch is retried with capped exponential backoff and stays pending in Redis
  (its idle time is reset so no other writer steals it); nothing is read meanwhile and nothing is
  lost. A crash at any point leaves the entries pending; they are written again, harmlessly.
* A poison entry (cannot be decoded, or PostgreSQL rejects its data) goes to the dead-letter
  stream with the error and an error-level ``stream_entry_dead_lettered`` event, then is
  acknowledged. Schema or connection problems are never treated as poison.

An optional :class:`WriterObserver` hears about every committed batch and how far behind the
stream the writer is (``runtime.metrics`` turns that into Prometheus metrics; storage stays free
of Ray).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import asyncpg
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import Clock, SystemClock
from core.errors import ConfigError, InvalidInputError, Problem
from core.records import DecisionRecord
from storage.codec import decode_entry
from storage.database import create_engine
from storage.persist import InsertCounts, insert_records
from storage.stream import (
    DEAD_LETTER_STREAM,
    DECISION_STREAM,
    WRITER_GROUP,
    StreamEntry,
    StreamId,
    entry_id_text,
    stream_client,
    stream_entries,
    trim_acknowledged,
)

_log = structlog.get_logger("storage.writer")

_TRANSIENT_DB_ERRORS: Final = (SQLAlchemyError, OSError, TimeoutError)
"""Failures worth retrying; data PostgreSQL refuses is split out first (:func:`rejects_data`)."""
_NO_COUNTS: Final = InsertCounts(transactions=0, decisions=0, alerts=0)


class WriterObserver(Protocol):
    """Hears what the writer does (metrics); called on the writer's loop, must not block."""

    def batch_committed(self, *, entries: int, rows: InsertCounts, lag_s: float) -> None:
        """``entries`` stream entries were committed as ``rows``; the newest is ``lag_s`` old."""
        ...

    def lagging(self, lag_s: float) -> None:
        """Behind by ``lag_s`` seconds without a commit: 0 when nothing is left to read, the age
        of the oldest entry of a batch whose write is being retried."""
        ...


def default_consumer_name() -> str:
    """``<host>-<pid>``: unique per running writer, readable in ``XINFO CONSUMERS``."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class WriterConfig:
    """How the writer reads, retries and trims."""

    stream: str = DECISION_STREAM
    group: str = WRITER_GROUP
    consumer: str = field(default_factory=default_consumer_name)
    dead_letter_stream: str = DEAD_LETTER_STREAM
    batch_size: int = 500
    block_ms: int = 1_000
    claim_idle_ms: int = 60_000
    """Entries pending this long at another consumer are taken over (that consumer is dead)."""
    claim_every_s: float = 15.0
    retain_acknowledged_ms: int = 60_000
    """Acknowledged entries younger than this stay in the stream for group-less readers."""
    trim_every_s: float = 5.0
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0

    def __post_init__(self) -> None:
        """Reject settings the writer cannot work with."""
        problems = [
            Problem(name, "must be greater than 0")
            for name in ("batch_size", "block_ms", "retry_initial_s", "retry_max_s")
            if getattr(self, name) <= 0
        ]
        problems += [
            Problem(name, "must not be negative")
            for name in ("claim_idle_ms", "claim_every_s", "retain_acknowledged_ms", "trim_every_s")
            if getattr(self, name) < 0
        ]
        if problems:
            raise ConfigError("invalid stream writer settings", problems)


@dataclass(frozen=True, slots=True)
class StepReport:
    """What one writer step did."""

    read: int = 0
    inserted: InsertCounts = _NO_COUNTS
    dead_lettered: int = 0
    acknowledged: int = 0


@dataclass(frozen=True, slots=True)
class _Decoded:
    entry_id: str
    record: DecisionRecord
    fields: dict[bytes, bytes]


@dataclass(frozen=True, slots=True)
class _Rejected:
    entry_id: str
    fields: dict[bytes, bytes]
    error: str


class StreamWriter:
    """Consumes the decision stream into PostgreSQL; see the module docstring for guarantees."""

    def __init__(
        self,
        redis: Redis,
        engine: AsyncEngine,
        config: WriterConfig | None = None,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: WriterObserver | None = None,
    ) -> None:
        self._redis = redis
        self._observer = observer
        self._engine = engine
        self.config = config or WriterConfig()
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._stopping = asyncio.Event()
        self._recovering = True  # read our own pending entries before new ones
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self._next_trim = 0.0
        self.failed_attempts = 0
        """PostgreSQL write attempts that failed since the writer started (for health checks)."""

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current step (a failing write is not retried)."""
        self._stopping.set()

    async def ensure_group(self) -> None:
        """Create the consumer group at the stream's start (``MKSTREAM``) unless it exists."""
        try:
            await self._redis.xgroup_create(
                self.config.stream, self.config.group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Step until :meth:`stop`; Redis errors are logged and retried with backoff."""
        _log.info("writer_started", consumer=self.config.consumer, stream=self.config.stream)
        delay = self.config.retry_initial_s
        while not self._stopping.is_set():
            try:
                await self.ensure_group()
                while not self._stopping.is_set():
                    await self.step()
                    delay = self.config.retry_initial_s
            except RedisError as exc:
                self._recovering = True
                _log.warning("writer_redis_failed", error=str(exc), retry_in_s=delay)
                await self._pause(delay)
                delay = min(delay * 2, self.config.retry_max_s)
        _log.info("writer_stopped", consumer=self.config.consumer)

    async def drain(self) -> StepReport:
        """Step until no entry is left for this consumer; return the totals (tests, shutdown)."""
        await self.ensure_group()
        total = StepReport()
        while not self._stopping.is_set():
            report = await self.step(block=False)
            if report.read == 0:
                return total
            total = _add(total, report)
        return total

    async def step(self, *, block: bool = True) -> StepReport:
        """Read one batch, persist it, dead-letter poison, acknowledge; see the module doc."""
        entries = await self._next_entries(block=block)
        if not entries:
            if self._observer is not None:
                self._observer.lagging(0.0)
            return StepReport()
        lost = [entry_id for entry_id, fields in entries if not fields]
        if lost:  # pending history whose entries someone deleted (XADD never writes no fields)
            _log.error("stream_entries_lost", stream=self.config.stream, entry_ids=lost)
        records, rejected = _decode_all([(i, fields) for i, fields in entries if fields])
        inserted, refused = await self._persist_with_retry(records)
        if inserted is None:  # stopping while PostgreSQL is down: leave the batch pending
            return StepReport(read=len(entries))
        rejected.extend(refused)
        await self._dead_letter(rejected)
        acknowledged = await self._redis.xack(
            self.config.stream, self.config.group, *[entry_id for entry_id, _ in entries]
        )
        await self._maybe_trim()
        if self._observer is not None:
            self._observer.batch_committed(
                entries=len(entries), rows=inserted, lag_s=self._age_s(entries[-1][0])
            )
        _log.debug(
            "decisions_written",
            read=len(entries),
            transactions=inserted.transactions,
            alerts=inserted.alerts,
            dead_lettered=len(rejected),
        )
        return StepReport(
            read=len(entries),
            inserted=inserted,
            dead_lettered=len(rejected),
            acknowledged=int(acknowledged),
        )

    async def _next_entries(self, *, block: bool) -> list[StreamEntry]:
        cfg = self.config
        if self._recovering:
            entries = stream_entries(
                await self._redis.xreadgroup(
                    cfg.group, cfg.consumer, {cfg.stream: "0"}, count=cfg.batch_size
                )
            )
            if entries:
                return entries
            self._recovering = False
        loop_time = asyncio.get_running_loop().time()
        if loop_time >= self._next_claim:
            claimed = await self._claim()
            if self._claim_cursor == "0-0":
                self._next_claim = loop_time + cfg.claim_every_s
            if claimed:
                return claimed
        return stream_entries(
            await self._redis.xreadgroup(
                cfg.group,
                cfg.consumer,
                {cfg.stream: ">"},
                count=cfg.batch_size,
                block=cfg.block_ms if block else None,
            )
        )

    async def _claim(self) -> list[StreamEntry]:
        cfg = self.config
        response = await self._redis.xautoclaim(
            cfg.stream,
            cfg.group,
            cfg.consumer,
            min_idle_time=cfg.claim_idle_ms,
            start_id=self._claim_cursor,
            count=cfg.batch_size,
        )
        self._claim_cursor = entry_id_text(response[0])
        claimed = [
            (entry_id_text(i), fields) for i, fields in response[1] if i is not None and fields
        ]
        deleted = [entry_id_text(i) for i in response[2]] if len(response) > 2 else []
        if deleted:  # entries deleted by someone else before we could write them
            await self._redis.xack(cfg.stream, cfg.group, *deleted)
            _log.error("stream_entries_lost", stream=cfg.stream, entry_ids=deleted)
        if claimed:
            _log.info("stream_entries_claimed", count=len(claimed), consumer=cfg.consumer)
        return claimed

    async def _persist_with_retry(
        self, records: Sequence[_Decoded]
    ) -> tuple[InsertCounts | None, list[_Rejected]]:
        delay = self.config.retry_initial_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._persist(records)
            except _TRANSIENT_DB_ERRORS as exc:
                self.failed_attempts += 1
                _log.warning(
                    "decision_write_failed",
                    error=f"{type(exc).__name__}: {exc}",
                    attempt=attempt,
                    entries=len(records),
                    retry_in_s=delay,
                )
            if self._observer is not None and records:
                self._observer.lagging(self._age_s(records[0].entry_id))
            if self._stopping.is_set():
                return None, []
            await self._keep_claimed([d.entry_id for d in records])
            await self._pause(delay)
            delay = min(delay * 2, self.config.retry_max_s)

    async def _persist(self, records: Sequence[_Decoded]) -> tuple[InsertCounts, list[_Rejected]]:
        """Insert all records at once; if PostgreSQL refuses the data, isolate the culprits."""
        if not records:
            return _NO_COUNTS, []
        try:
            async with self._engine.begin() as connection:
                return await insert_records(connection, [d.record for d in records]), []
        except DBAPIError as exc:
            if not rejects_data(exc):
                raise
            if len(records) == 1:
                only = records[0]
                return _NO_COUNTS, [_Rejected(only.entry_id, only.fields, _db_error(exc))]
        counts, rejected = _NO_COUNTS, []
        for record in records:  # one transaction each: the good ones get in, the bad ones out
            one_counts, one_rejected = await self._persist([record])
            counts = _sum_counts(counts, one_counts)
            rejected.extend(one_rejected)
        return counts, rejected

    async def _keep_claimed(self, entry_ids: list[str]) -> None:
        """Reset the idle time of entries we are retrying, so no other writer takes them over."""
        if not entry_ids:
            return
        try:
            await self._redis.xclaim(
                self.config.stream,
                self.config.group,
                self.config.consumer,
                min_idle_time=0,
                message_ids=[*entry_ids],
                justid=True,
            )
        except RedisError as exc:
            _log.warning("writer_redis_failed", error=str(exc))

    async def _dead_letter(self, rejected: list[_Rejected]) -> None:
        now = self._clock.now().isoformat()
        for item in rejected:
            fields: dict[Any, Any] = {
                b"source_stream": self.config.stream,
                b"source_id": item.entry_id,
                b"error": item.error,
                b"dead_lettered_at": now,
                b"consumer": self.config.consumer,
            }
            fields.update({b"f:" + name: value for name, value in item.fields.items()})
            await self._redis.xadd(self.config.dead_letter_stream, fields)
            _log.error(
                "stream_entry_dead_lettered",
                entry_id=item.entry_id,
                stream=self.config.stream,
                dead_letter_stream=self.config.dead_letter_stream,
                error=item.error,
            )

    async def _maybe_trim(self) -> None:
        loop_time = asyncio.get_running_loop().time()
        if loop_time < self._next_trim:
            return
        self._next_trim = loop_time + self.config.trim_every_s
        now_ms = int(self._clock.now().timestamp() * 1000)
        retain_after = StreamId(max(now_ms - self.config.retain_acknowledged_ms, 0), 0)
        removed = await trim_acknowledged(
            self._redis, self.config.stream, retain_after=retain_after
        )
        if removed:
            _log.debug("stream_trimmed", stream=self.config.stream, removed=removed)

    def _age_s(self, entry_id: str) -> float:
        """Seconds since Redis added ``entry_id`` (its ID is its time in ms); never negative."""
        now_ms = self._clock.now().timestamp() * 1000.0
        return max(0.0, (now_ms - StreamId.parse(entry_id).ms) / 1000.0)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless asked to stop first."""
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()


def rejects_data(exc: DBAPIError) -> bool:
    """Whether PostgreSQL (or asyncpg, client-side) refused the values themselves.

    SQLSTATE classes 22 (data exception) and 23 (integrity violation) cannot succeed on retry;
    anything else (connection lost, missing table, server shutting down) may.
    """
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in {"22", "23"}:
        return True
    return isinstance(getattr(exc.orig, "__cause__", None), asyncpg.exceptions.DataError)


async def run_writer(database_url: str, redis_url: str, config: WriterConfig | None = None) -> None:
    """Run a writer with its own connections until cancelled (or its ``stop``)."""
    redis = stream_client(redis_url)
    engine = create_engine(database_url, pool_size=2, max_overflow=2)
    try:
        await StreamWriter(redis, engine, config).run()
    finally:
        await redis.aclose()
        await engine.dispose()


def _decode_all(entries: list[StreamEntry]) -> tuple[list[_Decoded], list[_Rejected]]:
    records: list[_Decoded] = []
    rejected: list[_Rejected] = []
    for entry_id, fields in entries:
        try:
            records.append(_Decoded(entry_id, decode_entry(entry_id, fields), fields))
        except InvalidInputError as exc:
            rejected.append(_Rejected(entry_id, fields, str(exc)))
    return records, rejected


def _db_error(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return f"PostgreSQL rejected the record: {type(original).__name__}: {original}"


def _sum_counts(a: InsertCounts, b: InsertCounts) -> InsertCounts:
    return InsertCounts(
        transactions=a.transactions + b.transactions,
        decisions=a.decisions + b.decisions,
        alerts=a.alerts + b.alerts,
    )


def _add(a: StepReport, b: StepReport) -> StepReport:
    return StepReport(
        read=a.read + b.read,
        inserted=_sum_counts(a.inserted, b.inserted),
        dead_lettered=a.dead_lettered + b.dead_lettered,
        acknowledged=a.acknowledged + b.acknowledged,
    )
