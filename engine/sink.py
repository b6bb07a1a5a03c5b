"""The decision sink on the Redis decision stream: a whole micro-batch in one round trip.

Entries are encoded exactly as :class:`storage.stream.DecisionStream` encodes them (the writer
reads them back with :func:`storage.codec.decode_entry`); the only difference is that one batch's
``XADD`` commands share one pipelined round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from storage.codec import DecisionRecord, encode_entry
from storage.stream import DECISION_STREAM


class StreamSink:
    """Appends decision records to the decision stream, pipelined per batch."""

    def __init__(self, redis: Redis, *, stream: str = DECISION_STREAM) -> None:
        self._redis = redis
        self.stream = stream

    async def append(self, records: Sequence[DecisionRecord]) -> None:
        """``XADD`` every record in one round trip; raise if Redis refused any of them."""
        if not records:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for record in records:
                # A pipeline queues the command and returns itself; redis-py types it as the
                # client's awaitable, and its field mapping too narrowly for bytes keys.
                pipe.xadd(self.stream, encode_entry(record))  # type: ignore[arg-type,unused-awaitable]
            await pipe.execute(raise_on_error=True)

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self._redis.aclose()


def open_stream_sink(redis_url: str) -> StreamSink:
    """A sink with its own Redis client on ``redis_url``."""
    return StreamSink(Redis.from_url(redis_url))
