"""Micro-batching at the caller: many concurrent requests become one call per hop.

Each hop between Serve deployments costs about a millisecond of latency and of CPU whatever the
payload, and ``@serve.batch`` on the receiver does not reduce the number of calls. So the caller
collects items for at most ``max_wait_s`` (or until ``max_batch_size`` are waiting) and hands
them to ``process`` in one call.

``process`` answers per item: a result, or an exception instance that fails only that item's
caller. If ``process`` itself raises, every caller in that batch gets the error.

Items submitted one by one (or with :meth:`MicroBatcher.submit_many`) may land in any batch;
items submitted with :meth:`MicroBatcher.submit_group` stay together, in order, in one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BatchFunction = Callable[[list[T]], Awaitable[Sequence[R | Exception]]]
_Entry = tuple[T, asyncio.Future[R]]


@dataclass(frozen=True, slots=True)
class BatchingOptions:
    """How long and how many to collect, and how many batches may be in flight at once."""

    max_batch_size: int = 64
    max_wait_s: float = 0.002
    max_in_flight: int = 4

    def __post_init__(self) -> None:
        """Reject limits that would never flush or never run."""
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        if self.max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {self.max_wait_s}")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")


class BatcherClosedError(RuntimeError):
    """Raised to callers that submit after :meth:`MicroBatcher.aclose`."""


class MicroBatcher(Generic[T, R]):
    """Collects submitted items into batches and runs ``process`` once per batch.

    The collector task starts on the first :meth:`submit` (in the running loop) and stops in
    :meth:`aclose`. While one batch is being processed the next one is already collecting, up to
    ``options.max_in_flight`` batches at once.
    """

    def __init__(
        self, process: BatchFunction[T, R], options: BatchingOptions | None = None
    ) -> None:
        self._process = process
        self._options = options or BatchingOptions()
        self._queue: asyncio.Queue[list[_Entry[T, R]]] = asyncio.Queue()
        self._carried: list[_Entry[T, R]] | None = None
        """A group taken from the queue that did not fit in the batch being collected."""
        self._collector: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self._options.max_in_flight)
        self._closed = False

    @property
    def options(self) -> BatchingOptions:
        """The limits this batcher was built with."""
        return self._options

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result (or its own error)."""
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """Queue every item (they may land in one or several batches); results in order.

        Raises the first item's error if any item failed, after all have finished.
        """
        futures = self._enqueue([[item] for item in items])
        settled = await asyncio.gather(*futures, return_exceptions=True)
        results: list[R] = []
        for outcome in settled:
            if isinstance(outcome, BaseException):
                raise outcome
            results.append(outcome)
        return results

    async def submit_group(self, items: Sequence[T]) -> list[R | Exception]:
        """Queue ``items`` as one group: they are processed in one batch, in this order (other
        callers' items may share the batch). At most ``max_batch_size`` items.

        Returns each item's result or its own error, in order, after all have finished.
        """
        if len(items) > self._options.max_batch_size:
            raise ValueError(
                f"a group of {len(items)} items exceeds max_batch_size "
                f"{self._options.max_batch_size}"
            )
        if not items:
            return []
        futures = self._enqueue([list(items)])
        settled = await asyncio.gather(*futures, return_exceptions=True)
        outcomes: list[R | Exception] = []
        for outcome in settled:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
            outcomes.append(outcome)
        return outcomes

    def _enqueue(self, groups: Sequence[Sequence[T]]) -> list[asyncio.Future[R]]:
        """Queue each group as one unit; the futures of all items, in order."""
        if self._closed:
            raise BatcherClosedError("the batcher is closed")
        self._ensure_collector()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = []
        for group in groups:
            entries: list[_Entry[T, R]] = []
            for item in group:
                future: asyncio.Future[R] = loop.create_future()
                futures.append(future)
                entries.append((item, future))
            self._queue.put_nowait(entries)
        return futures

    async def aclose(self) -> None:
        """Stop collecting, finish the batches in flight, fail anything still queued."""
        self._closed = True
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
            self._collector = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        left = [self._carried] if self._carried else []
        self._carried = None
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
        for group in left:
            for _, future in group:
                if not future.done():
                    future.set_exception(BatcherClosedError("the batcher closed before this ran"))

    def _ensure_collector(self) -> None:
        if self._collector is None or self._collector.done():
            # A fresh context: batches serve many requests, so none of them may inherit the
            # logging context (request_id, path) of the request that happened to start the
            # collector.
            self._collector = asyncio.create_task(
                self._collect(), name="micro-batcher", context=contextvars.Context()
            )

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        size, wait = self._options.max_batch_size, self._options.max_wait_s
        while True:
            first, self._carried = self._carried, None
            batch = list(first if first is not None else await self._queue.get())
            deadline = loop.time() + wait
            while len(batch) < size:
                if not self._queue.empty():
                    group = self._queue.get_nowait()
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        async with asyncio.timeout(remaining):
                            group = await self._queue.get()
                    except TimeoutError:
                        break
                if len(batch) + len(group) > size:  # a group is never split: the next batch
                    self._carried = group
                    break
                batch += group
            await self._slots.acquire()
            task = asyncio.create_task(self._run(batch), name="micro-batch")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Entry[T, R]]) -> None:
        try:
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                return
            try:
                results = await self._process([item for item, _ in live])
                if len(results) != len(live):
                    raise RuntimeError(  # noqa: TRY301 - a contract breach fails the whole batch
                        f"batch function returned {len(results)} results for {len(live)} items"
                    )
            except Exception as exc:  # noqa: BLE001 - every caller of the batch gets the error
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                return
            for (_, future), result in zip(live, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            self._slots.release()
