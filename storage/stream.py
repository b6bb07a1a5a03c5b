"""The decision stream, owned here: append (and keep for replays), recall, read, trim safely.

:class:`DecisionStream` is the one appender, used by the engine's hot path (it is the engine's
``DecisionSink``) and by anything else that writes decisions (tests, benchmarks). One batch's
``XADD`` commands share one pipelined round trip, with no length cap: a ``MAXLEN`` cap on ``XADD``
would drop the oldest entries whether or not they were written to PostgreSQL, so during an outage
it would lose exactly the decisions the stream exists to keep. In the same round trip each record
is kept under ``vigil:decided:<transaction_id>`` for the replay window (``SET ... PX <window>
NX``: the first decision of an id is the one kept), which :meth:`DecisionStream.recall` reads back
with one ``MGET`` for idempotent replays (``engine.replay``).

Readers parse ``XREAD`` / ``XREADGROUP`` replies with :func:`stream_entries` (the writer and the
web app's feed alike) and decode each entry with :func:`storage.codec.decode_entry`.

The writer trims with ``XTRIM MINID ~`` below :func:`safe_trim_floor`: entries every consumer
group has been given and acknowledged, and that are older than a retention window (kept for
readers such as the UI that follow the stream without a group). An outage therefore grows the
stream; it never loses data.

Stream IDs are ``<milliseconds>-<sequence>``; :class:`StreamId` compares them as numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Self
from urllib.parse import urlsplit

import msgspec
from redis.asyncio import Redis

from core.errors import InvalidInputError, Problem
from core.records import DecisionRecord
from storage.codec import decode_record, encode_record, entry_fields

DECISION_STREAM: Final = "vigil:decisions"
DEAD_LETTER_STREAM: Final = "vigil:decisions:dead"
WRITER_GROUP: Final = "vigil-writer"
DECIDED_PREFIX: Final = "vigil:decided:"
"""Key prefix of the records kept for replays (``vigil:decided:<transaction_id>``)."""
DEFAULT_REPLAY_WINDOW_S: Final = 600.0
"""How long each decision is kept for replays unless the caller says otherwise."""

StreamEntry = tuple[str, dict[bytes, bytes]]
"""One entry of a stream reply: its ID and its fields (empty when the entry was deleted)."""


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
    """Appends decision records to the stream the writer persists, and keeps them for replays."""

    def __init__(
        self,
        redis: Redis,
        *,
        name: str = DECISION_STREAM,
        replay_window_s: float = DEFAULT_REPLAY_WINDOW_S,
    ) -> None:
        self._redis = redis
        self.name = name
        self._replay_window_ms = max(1, round(replay_window_s * 1000))

    async def append(self, records: Sequence[DecisionRecord]) -> list[str | InvalidInputError]:
        """``XADD`` and keep every record in one round trip; per record, its entry ID, in order.

        A record that cannot be encoded is not sent and gets an :class:`InvalidInputError` in its
        place, so one bad record never fails its neighbours. Raises if Redis refused a command.
        """
        encoded: list[tuple[DecisionRecord, bytes] | InvalidInputError] = [
            _encoded(record) for record in records
        ]
        sendable = [item for item in encoded if not isinstance(item, InvalidInputError)]
        if not sendable:
            return [item for item in encoded if isinstance(item, InvalidInputError)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for record, payload in sendable:
                # A pipeline queues the command and returns itself; redis-py types it as the
                # client's awaitable, and its field mapping too narrowly for bytes keys.
                pipe.xadd(self.name, entry_fields(payload))  # type: ignore[arg-type,unused-awaitable]
                pipe.set(  # type: ignore[unused-awaitable]
                    _decided_key(record.transaction.transaction_id),
                    payload,
                    px=self._replay_window_ms,
                    nx=True,
                )
            replies = await pipe.execute(raise_on_error=True)
        entry_ids = iter(entry_id_text(entry_id) for entry_id in replies[::2])
        return [
            item if isinstance(item, InvalidInputError) else next(entry_ids) for item in encoded
        ]

    async def append_all(self, records: Sequence[DecisionRecord]) -> list[str]:
        """:meth:`append`, raising the first refusal (for tools and tests that write known-good
        records and want entry IDs only); the other records are appended all the same."""
        answers = await self.append(records)
        refused = [answer for answer in answers if isinstance(answer, InvalidInputError)]
        if refused:
            raise refused[0]
        return [answer for answer in answers if isinstance(answer, str)]

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


def open_decision_stream(
    redis_url: str, *, replay_window_s: float = DEFAULT_REPLAY_WINDOW_S
) -> DecisionStream:
    """A :class:`DecisionStream` with its own Redis client on ``redis_url``."""
    return DecisionStream(Redis.from_url(redis_url), replay_window_s=replay_window_s)


def entry_id_text(value: str | bytes) -> str:
    """A stream entry ID as text (redis-py answers bytes unless it decodes responses)."""
    return value.decode() if isinstance(value, bytes) else value


def stream_entries(reply: Any) -> list[StreamEntry]:
    """``(entry_id, fields)`` pairs of an ``XREAD`` / ``XREADGROUP`` reply in either redis-py shape.

    RESP2 gives ``[[stream, [(id, fields), ...]], ...]``; RESP3 gives ``{stream: [[(id, fields),
    ...]]}`` (one more level of nesting). ``None`` (the block timed out) gives ``[]``. An entry
    deleted while pending in a group comes with no fields: its fields are ``{}``.
    """
    if not reply:
        return []
    chunks = reply.values() if isinstance(reply, dict) else [item[1] for item in reply]
    entries: list[StreamEntry] = []
    for chunk in chunks:
        for item in chunk:
            if isinstance(item, tuple):
                entries.append((entry_id_text(item[0]), item[1] or {}))
            else:  # RESP3 nests the entry list once more
                entries.extend((entry_id_text(i), fields or {}) for i, fields in item)
    return entries


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


def _encoded(record: DecisionRecord) -> tuple[DecisionRecord, bytes] | InvalidInputError:
    """``record`` with its encoding, or why it cannot be encoded (naming its transaction)."""
    try:
        return record, encode_record(record)
    except (msgspec.EncodeError, OverflowError, ValueError, TypeError) as exc:
        return InvalidInputError(
            f"transaction {record.transaction.transaction_id!r} cannot be recorded",
            [Problem("$", f"it cannot be encoded for the decision stream: {exc}")],
        )


def _decided_key(transaction_id: str) -> str:
    return f"{DECIDED_PREFIX}{transaction_id}"
