"""Follow the decision stream and hand every new alert to the app, in batches, as it happens.

One :class:`DecisionFeed` runs per UI process. It reads ``vigil:decisions`` with plain blocking
``XREAD`` (no consumer group: it only watches, the writer owns persistence), starting after the
stream's last entry when it starts (entries appended from then on). It never passes ``$`` to a
repeated ``XREAD``: entries appended between two reads would be lost; it always reads after the
last ID it has seen. Each reply is one batch: the alerting decisions in it become
:class:`~ui.live.AlertItem` s passed to ``publish`` at once, so a burst costs one update per
page, not one per alert.

When Redis goes away the feed reports ``reconnecting`` and retries with capped backoff; it then
resumes after the last entry it saw (or, if it never saw one, from the moment of the failure), so
alerts appended during the outage are still shown, as long as the stream retains them.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.clock import Clock, SystemClock
from core.errors import InvalidInputError
from storage.codec import decode_entry
from storage.stream import DECISION_STREAM, entry_id_text, stream_entries
from ui.live import AlertItem, item_from_record

_log = structlog.get_logger("ui.feed")
UNRESOLVED: Final = ""
"""The feed has not yet asked Redis where the stream ends."""


class FeedState(enum.StrEnum):
    """Whether the feed is following the stream."""

    STARTING = "starting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """How the feed reads: entries per read, block time, retry backoff."""

    stream: str = DECISION_STREAM
    count: int = 500
    block_ms: int = 5_000
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0


class DecisionFeed:
    """Reads new stream entries and publishes the alerts among them (see the module docstring)."""

    def __init__(
        self,
        redis: Redis,
        publish: Callable[[list[AlertItem]], None],
        *,
        on_state: Callable[[FeedState], None] | None = None,
        options: FeedOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._redis = redis
        self._publish = publish
        self._on_state = on_state or (lambda _state: None)
        self.options = options or FeedOptions()
        self._clock = clock or SystemClock()
        self._last_id = UNRESOLVED
        self._state = FeedState.STARTING
        self.decisions_seen = 0
        self.alerts_published = 0
        self.entries_rejected = 0

    @property
    def state(self) -> FeedState:
        """The feed's current state."""
        return self._state

    async def run(self) -> None:
        """Follow the stream until cancelled."""
        delay = self.options.retry_initial_s
        try:
            while True:
                try:
                    await self.read_once()
                    delay = self.options.retry_initial_s
                except (RedisError, OSError) as exc:
                    self._set_state(FeedState.RECONNECTING)
                    if self._last_id == UNRESOLVED:  # resume from the failure, not from "later"
                        self._last_id = f"{int(self._clock.now().timestamp() * 1000)}-0"
                    _log.warning("ui_feed_redis_failed", error=str(exc), retry_in_s=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.options.retry_max_s)
        finally:
            self._set_state(FeedState.STOPPED)

    async def read_once(self) -> list[AlertItem]:
        """One blocking read: publish and return the alerts among the new entries."""
        if self._last_id == UNRESOLVED:
            newest = await self._redis.xrevrange(self.options.stream, count=1)
            last = newest[0][0] if newest else None
            self._last_id = entry_id_text(last) if last else "0-0"
        elif self._state is not FeedState.LIVE:
            await self._redis.ping()  # say "live" as soon as Redis answers, not after the block
        self._set_state(FeedState.LIVE)
        reply = await self._redis.xread(
            {self.options.stream: self._last_id},
            count=self.options.count,
            block=self.options.block_ms,
        )
        items: list[AlertItem] = []
        for entry_id, fields in stream_entries(reply):
            self._last_id = entry_id
            if not fields:
                continue
            try:
                record = decode_entry(entry_id, fields)
            except InvalidInputError as exc:
                self.entries_rejected += 1
                _log.warning("ui_feed_entry_rejected", entry_id=entry_id, error=exc.summary)
                continue
            self.decisions_seen += 1
            item = item_from_record(record)
            if item is not None:
                items.append(item)
        if items:
            self.alerts_published += len(items)
            self._publish(items)
        return items

    def _set_state(self, state: FeedState) -> None:
        if state is not self._state:
            self._state = state
            self._on_state(state)
