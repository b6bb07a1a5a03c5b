"""A process's log events into the ``logs`` table: a :class:`LogBuffer` and its flusher task.

One :class:`LogShipping` per process that keeps its events in PostgreSQL (the gateway and rules
replicas, the ``vigil up`` process)::

    shipping = LogShipping(settings.database_url)
    configure_logging(settings, extra_processors=[shipping.buffer])
    shipping.start()            # on the process's running event loop
    ...
    await shipping.aclose()     # last flush, bounded by a timeout

Logging itself never waits for PostgreSQL: the buffer is an in-memory, bounded queue (when it is
full the oldest events are dropped and counted, see :mod:`storage.logs`); the flusher task writes
it in batches every ``interval_s`` on its own small connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import Clock
from storage.database import create_engine
from storage.logs import LogBuffer, LogFlusher

DEFAULT_CAPACITY: Final = 10_000
DEFAULT_BATCH_SIZE: Final = 1_000
DEFAULT_INTERVAL_S: Final = 1.0
DEFAULT_CLOSE_TIMEOUT_S: Final = 5.0

_DB_ERRORS: Final = (SQLAlchemyError, OSError)
_log = structlog.get_logger("storage.log_shipping")


class LogShipping:
    """Owns a :class:`LogBuffer` and, once started, the task that flushes it to PostgreSQL."""

    def __init__(
        self,
        database_url: str,
        *,
        capacity: int = DEFAULT_CAPACITY,
        batch_size: int = DEFAULT_BATCH_SIZE,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Clock | None = None,
    ) -> None:
        self.buffer = LogBuffer(capacity, clock=clock)
        """The structlog processor to add to the chain (``extra_processors``)."""
        self._database_url = database_url
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._clock = clock
        self._engine: AsyncEngine | None = None
        self._flusher: LogFlusher | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the flusher task is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start flushing on the running event loop (opens no connection yet; idempotent)."""
        if self.running:
            return
        if self._engine is None:
            # One connection is all a flusher uses; a second covers a reconnect after an outage.
            self._engine = create_engine(self._database_url, pool_size=1, max_overflow=1)
        self._flusher = LogFlusher(
            self.buffer,
            self._engine,
            batch_size=self._batch_size,
            interval_s=self._interval_s,
            clock=self._clock,
        )
        self._task = asyncio.get_running_loop().create_task(self._flusher.run(), name="log-flusher")

    async def aclose(self, *, timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Flush once more (for at most ``timeout_s``), stop the task, close the connections.

        Events PostgreSQL could not take in time are not written (they were printed anyway).
        """
        task, flusher, engine = self._task, self._flusher, self._engine
        self._task = self._flusher = self._engine = None
        if task is not None and flusher is not None:
            flusher.stop()
            try:
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(task)
                    # A task stopped before its first turn never flushed: flush here.
                    await flusher.flush()
            except TimeoutError:
                _log.warning("log_flush_abandoned", queued=len(self.buffer), timeout_s=timeout_s)
            except _DB_ERRORS as exc:
                _log.warning("log_flush_failed", error=f"{type(exc).__name__}: {exc}")
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if engine is not None:
            await engine.dispose()
