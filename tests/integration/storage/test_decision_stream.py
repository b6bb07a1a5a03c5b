"""The one decision-stream appender against a real Redis: entries, kept records, recall."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from core.errors import InvalidInputError
from core.models import Outcome
from core.records import DecisionRecord
from storage.codec import decode_entry
from storage.stream import DECIDED_PREFIX, DECISION_STREAM, DecisionStream, stream_entries

MakeRecord = Callable[..., DecisionRecord]


async def test_a_batch_is_appended_in_order_and_reads_back(
    redis_client: Redis, make_record: MakeRecord
) -> None:
    """One append returns each entry's ID in order; the stream holds exactly those records."""
    records = [make_record(1), make_record(2, Outcome.BLOCK), make_record(3, Outcome.REVIEW)]
    ids = await DecisionStream(redis_client).append(records)
    entries = stream_entries(await redis_client.xread({DECISION_STREAM: "0-0"}))
    assert [entry_id for entry_id, _ in entries] == ids
    assert [decode_entry(i, fields) for i, fields in entries] == records


async def test_recall_gives_the_first_record_kept_for_each_id(
    redis_client: Redis, make_record: MakeRecord
) -> None:
    """The first decision of an id is the one kept; unknown ids recall nothing."""
    stream = DecisionStream(redis_client)
    first = make_record(1, Outcome.BLOCK)
    await stream.append([first])
    await stream.append([make_record(1, Outcome.ALLOW)])
    assert await stream.recall(["t1", "t9"]) == [first, None]
    assert await stream.append([]) == []
    assert await stream.recall([]) == []


async def test_kept_records_expire_after_the_replay_window(
    redis_client: Redis, make_record: MakeRecord
) -> None:
    """Each kept record carries the replay window as its time to live."""
    await DecisionStream(redis_client, replay_window_s=30).append([make_record(1)])
    ttl_ms = await redis_client.pttl(f"{DECIDED_PREFIX}t1")
    assert 0 < ttl_ms <= 30_000


async def test_a_record_that_cannot_be_encoded_fails_alone(
    redis_client: Redis, make_record: MakeRecord
) -> None:
    """A poison record (a 70-bit integer MessagePack cannot carry) is refused; the rest land."""
    poison = make_record(2, attributes={"k": 2**70})
    answers = await DecisionStream(redis_client).append([make_record(1), poison, make_record(3)])
    assert isinstance(answers[1], InvalidInputError)
    assert "'t2' cannot be recorded" in str(answers[1])
    entries = stream_entries(await redis_client.xread({DECISION_STREAM: "0-0"}))
    assert [entry_id for entry_id, _ in entries] == [answers[0], answers[2]]
    assert await redis_client.exists(f"{DECIDED_PREFIX}t2") == 0
