"""structlog events into the ``logs`` table, in batches.

:class:`LogBuffer` is a structlog processor: it keeps a JSON-safe copy of every event in a bounded
in-memory queue and passes the event on unchanged (so it is still printed). :class:`LogFlusher`
moves the queue into PostgreSQL every ``interval_s`` (or sooner when a batch is full). Place the
buffer after ``add_log_level`` / ``add_logger_name`` / ``format_exc_info`` and before the renderer::

    buffer = LogBuffer()
    structlog.configure(processors=[..., structlog.processors.add_log_level, buffer, renderer])
    flusher = LogFlusher(buffer, engine)   # then run `await flusher.run()` as a task

While PostgreSQL is down events stay queued; when the queue is full the oldest are dropped and
counted, and the next flush writes a ``log_events_dropped`` row with the count, so a gap in the
table is always visible. The printed log keeps every event either way.

Events carry client text (a request's path, a transaction id), and PostgreSQL's ``text`` and
``jsonb`` refuse the NUL character: the stored copy has each U+0000 replaced by U+FFFD, so one
hostile request cannot make every later flush fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import Clock, SystemClock
from storage.models import Base, LogRow
from storage.persist import UnnestInsert

_LOGS: Final = UnnestInsert(Base.metadata.tables[LogRow.__tablename__], skip=("id",))
_log = structlog.get_logger("storage.logs")
_DB_ERRORS: Final = (SQLAlchemyError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One event as it goes into the ``logs`` table."""

    ts: datetime
    level: str
    event: str
    logger: str | None
    transaction_id: str | None
    payload: dict[str, Any]

    def row(self) -> dict[str, Any]:
        """The ``logs`` row."""
        return {
            "ts": self.ts,
            "level": self.level,
            "event": self.event,
            "logger": self.logger,
            "transaction_id": self.transaction_id,
            "payload": self.payload,
        }


def _json_safe(value: Any) -> Any:
    return _storable(msgspec.to_builtins(value, enc_hook=str, str_keys=True))


def _storable(value: Any) -> Any:
    """``value`` (JSON builtins) with U+0000, which PostgreSQL cannot store, replaced."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


class LogBuffer:
    """A structlog processor that queues a copy of each event (at most ``capacity``)."""

    def __init__(self, capacity: int = 10_000, *, clock: Clock | None = None) -> None:
        self._queue: deque[LogEntry] = deque()
        self._capacity = capacity
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self.dropped = 0
        """Events dropped because the queue was full, not yet reported in the table."""

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Queue a copy of ``event_dict``; return it unchanged for the next processor."""
        payload = {k: _json_safe(v) for k, v in event_dict.items() if k != "event"}
        transaction_id = event_dict.get("transaction_id")
        logger_name = event_dict.get("logger")
        self.put(
            LogEntry(
                ts=self._clock.now(),
                level=_storable(str(event_dict.get("level", method_name))),
                event=_storable(str(event_dict.get("event", ""))),
                logger=_storable(logger_name) if isinstance(logger_name, str) else None,
                transaction_id=(
                    _storable(transaction_id) if isinstance(transaction_id, str) else None
                ),
                payload=payload,
            )
        )
        return event_dict

    def put(self, entry: LogEntry) -> None:
        """Queue ``entry``, dropping (and counting) the oldest when full."""
        with self._lock:
            if len(self._queue) >= self._capacity:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(entry)

    def take(self, limit: int) -> list[LogEntry]:
        """Remove and return up to ``limit`` of the oldest entries."""
        with self._lock:
            return [self._queue.popleft() for _ in range(min(limit, len(self._queue)))]

    def give_back(self, entries: list[LogEntry], dropped: int = 0) -> None:
        """Put entries that could not be written back at the front, and a dropped count."""
        with self._lock:
            room = self._capacity - len(self._queue)
            keep = entries[-room:] if room > 0 else []
            self.dropped += dropped + len(entries) - len(keep)
            self._queue.extendleft(reversed(keep))

    def take_dropped(self) -> int:
        """Return and reset the dropped count."""
        with self._lock:
            dropped, self.dropped = self.dropped, 0
            return dropped

    def __len__(self) -> int:
        return len(self._queue)


class LogFlusher:
    """Writes a :class:`LogBuffer` into the ``logs`` table periodically."""

    def __init__(
        self,
        buffer: LogBuffer,
        engine: AsyncEngine,
        *,
        batch_size: int = 1_000,
        interval_s: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self._buffer = buffer
        self._engine = engine
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._clock = clock or SystemClock()
        self._stopping = asyncio.Event()

    async def flush(self) -> int:
        """Write everything queued now; return how many events were written."""
        written = 0
        while True:
            batch = self._buffer.take(self._batch_size)
            dropped = self._buffer.take_dropped()
            if dropped:
                batch.append(self._dropped_entry(dropped))
            if not batch:
                return written
            try:
                async with self._engine.begin() as connection:
                    await _LOGS.execute(connection, [entry.row() for entry in batch])
            except _DB_ERRORS:
                self._buffer.give_back(batch[: len(batch) - bool(dropped)], dropped)
                raise
            written += len(batch)

    async def run(self) -> None:
        """Flush every ``interval_s`` until :meth:`stop`, then once more."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval_s)
            try:
                await self.flush()
            except _DB_ERRORS as exc:
                _log.warning("log_flush_failed", error=f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """Ask :meth:`run` to flush a last time and return."""
        self._stopping.set()

    def _dropped_entry(self, count: int) -> LogEntry:
        return LogEntry(
            ts=self._clock.now(),
            level="warning",
            event="log_events_dropped",
            logger="storage.logs",
            transaction_id=None,
            payload={"count": count, "reason": "log queue full while the database was away"},
        )
