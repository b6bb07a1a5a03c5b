"""The decision stream: the hot path appends, the writer consumes, history is trimmed safely.

``DecisionStream.append`` is one ``XADD`` with no length cap. A ``MAXLEN`` cap on ``XADD`` would
drop the oldest entries whether or not they were written to PostgreSQL, so during an outage it
would lose exactly the decisions the stream exists to keep. Instead the writer trims with
``XTRIM MINID ~`` below :func:`safe_trim_floor`: entries every consumer group has been given and
acknowledged, and that are older than a retention window (kept for readers such as the UI that
follow the stream without a group). An outage therefore grows the stream; it never loses data.

Stream IDs are ``<milliseconds>-<sequence>``; :class:`StreamId` compares them as numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, Self
from urllib.parse import urlsplit

from redis.asyncio import Redis

from core.models import Decision, Transaction
from storage.codec import DecisionRecord, encode_entry

DECISION_STREAM: Final = "vigil:decisions"
DEAD_LETTER_STREAM: Final = "vigil:decisions:dead"
WRITER_GROUP: Final = "vigil-writer"


class StreamId(NamedTuple):
    """A Redis stream entry ID, ordered like Redis orders them."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, value: str | bytes) -> Self:
        """``b"1700000000000-3"`` → ``StreamId(1700000000000, 3)``."""
        text = value.decode() if isinstance(value, bytes) else value
        ms, _, seq = text.partition("-")
        return cls(int(ms), int(seq or 0))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


@dataclass(frozen=True, slots=True)
class GroupPosition:
    """How far one consumer group got: last entry handed out, oldest one not acknowledged."""

    last_delivered: StreamId
    oldest_pending: StreamId | None


def safe_trim_floor(groups: Sequence[GroupPosition], retain_after: StreamId) -> StreamId | None:
    """The lowest entry ID that must stay, or ``None`` when nothing may be trimmed.

    Kept: everything not yet delivered to some group, everything delivered but unacknowledged,
    and everything at or after ``retain_after``. Without any group nothing is trimmed.
    """
    if not groups:
        return None
    floors = [g.last_delivered if g.oldest_pending is None else g.oldest_pending for g in groups]
    floor = min([*floors, retain_after])
    return floor if floor > StreamId(0, 0) else None


def stream_client(url: str, **options: Any) -> Redis:
    """A Redis client for blocking stream reads: no socket timeout (DESIGN §9), TCP keepalive."""
    defaults: dict[str, Any] = {"socket_timeout": None}
    if urlsplit(url).scheme != "unix":  # keepalive is a TCP option
        defaults["socket_keepalive"] = True
    return Redis.from_url(url, **{**defaults, **options})


class DecisionStream:
    """Appends decisions to the stream the writer persists."""

    def __init__(self, redis: Redis, *, name: str = DECISION_STREAM) -> None:
        self._redis = redis
        self.name = name

    async def append(
        self, transaction: Transaction, decision: Decision, *, received_at: datetime
    ) -> str:
        """Append one decision; return its entry ID. ``received_at`` is the request's arrival."""
        record = DecisionRecord(transaction=transaction, decision=decision, received_at=received_at)
        entry_id = await self._redis.xadd(self.name, encode_entry(record))  # type: ignore[arg-type]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def trim_acknowledged(redis: Redis, stream: str, *, retain_after: StreamId) -> int:
    """Trim entries every group has acknowledged and that precede ``retain_after``.

    Returns how many entries Redis removed (``~`` trims whole nodes only, so possibly fewer).
    """
    positions: list[GroupPosition] = []
    for group in await redis.xinfo_groups(stream):
        pending = await redis.xpending(stream, group["name"])
        oldest = pending.get("min") if pending.get("pending") else None
        positions.append(
            GroupPosition(
                last_delivered=StreamId.parse(group["last-delivered-id"]),
                oldest_pending=StreamId.parse(oldest) if oldest else None,
            )
        )
    floor = safe_trim_floor(positions, retain_after)
    if floor is None:
        return 0
    return int(await redis.xtrim(stream, minid=str(floor), approximate=True))
