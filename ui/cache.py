"""Shared dashboard reads: many open pages, one query per key per refresh interval.

Every Overview tab refreshes on a timer; :class:`SharedReads` makes them share results, so
PostgreSQL sees one query per distinct view per ``ttl_s`` however many analysts are watching.
Concurrent callers of a key that is being loaded await the same load. Failures are not cached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class SharedReads:
    """A tiny time-to-live cache of in-flight and finished async loads, by key."""

    def __init__(self, ttl_s: float, *, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._now = now
        self._entries: dict[Hashable, tuple[float, asyncio.Future[Any]]] = {}
        self.loads = 0
        """How many times a loader actually ran (for tests and diagnostics)."""

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The value for ``key``: fresh from the last ``ttl_s``, or loaded once now."""
        entry = self._entries.get(key)
        if entry is not None and (not entry[1].done() or self._now() < entry[0]):
            result: T = await asyncio.shield(entry[1])
            return result
        future: asyncio.Future[Any] = asyncio.ensure_future(load())
        self.loads += 1
        self._entries[key] = (self._now() + self.ttl_s, future)
        self._prune()
        try:
            return await asyncio.shield(future)
        except BaseException:
            if self._entries.get(key, (0.0, None))[1] is future:
                del self._entries[key]
            raise

    def _prune(self) -> None:
        now = self._now()
        for key in [k for k, (expires, f) in self._entries.items() if f.done() and expires <= now]:
            del self._entries[key]
