"""The decision sink on Redis: the decision stream, and each decision kept for replays.

Entries are encoded exactly as :class:`storage.stream.DecisionStream` encodes them (the writer
reads them back with :func:`storage.codec.decode_entry`); one batch's ``XADD`` commands share one
pipelined round trip. In the same round trip each record is kept under
``vigil:decided:<transaction_id>`` for the replay window (``SET ... PX <window> NX``: the first
decision of an id is the one kept), which :meth:`StreamSink.recall` reads back for
:mod:`engine.replay`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from redis.asyncio import Redis

from storage.codec import DecisionRecord, decode_record, encode_entry, encode_record
from storage.stream import DECISION_STREAM

DECIDED_PREFIX: Final = "vigil:decided:"
DEFAULT_REPLAY_WINDOW_S: Final = 600.0


class StreamSink:
    """Appends decision records to the decision stream and keeps them for replays."""

    def __init__(
        self,
        redis: Redis,
        *,
        stream: str = DECISION_STREAM,
        replay_window_s: float = DEFAULT_REPLAY_WINDOW_S,
    ) -> None:
        self._redis = redis
        self.stream = stream
        self._replay_window_ms = max(1, round(replay_window_s * 1000))

    async def append(self, records: Sequence[DecisionRecord]) -> None:
        """``XADD`` and keep every record in one round trip; raise if Redis refused any."""
        if not records:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for record in records:
                # A pipeline queues the command and returns itself; redis-py types it as the
                # client's awaitable, and its field mapping too narrowly for bytes keys.
                pipe.xadd(self.stream, encode_entry(record))  # type: ignore[arg-type,unused-awaitable]
                pipe.set(  # type: ignore[unused-awaitable]
                    _decided_key(record.transaction.transaction_id),
                    encode_record(record),
                    px=self._replay_window_ms,
                    nx=True,
                )
            await pipe.execute(raise_on_error=True)

    async def recall(self, transaction_ids: Sequence[str]) -> list[DecisionRecord | None]:
        """The kept record of each id (``None`` if unseen or older than the window); one MGET."""
        if not transaction_ids:
            return []
        kept = await self._redis.mget([_decided_key(t) for t in transaction_ids])
        return [
            None
            if raw is None
            else decode_record(
                raw.encode() if isinstance(raw, str) else raw, f"replay record of {transaction_id}"
            )
            for transaction_id, raw in zip(transaction_ids, kept, strict=True)
        ]

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self._redis.aclose()


def _decided_key(transaction_id: str) -> str:
    return f"{DECIDED_PREFIX}{transaction_id}"


def open_stream_sink(
    redis_url: str, *, replay_window_s: float = DEFAULT_REPLAY_WINDOW_S
) -> StreamSink:
    """A sink with its own Redis client on ``redis_url``."""
    return StreamSink(Redis.from_url(redis_url), replay_window_s=replay_window_s)
