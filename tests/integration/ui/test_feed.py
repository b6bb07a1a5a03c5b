"""The UI's decision-stream reader against a real Redis, and push all the way to a page."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from nicegui.testing import User
from redis.asyncio import Redis

from core.models import Outcome
from core.records import DecisionRecord
from storage.stream import DECISION_STREAM, DecisionStream, stream_client
from ui.feed import DecisionFeed, FeedOptions, FeedState
from ui.live import AlertItem
from ui.services import UiServices

MakeRecord = Callable[..., DecisionRecord]
SignIn = Callable[..., Awaitable[None]]
TableRows = Callable[[User, str], list[dict[str, Any]]]


async def append(redis: Redis, record: DecisionRecord) -> str:
    """Append a decision exactly as the engine does."""
    (entry_id,) = await DecisionStream(redis).append_all([record])
    return entry_id


async def test_feed_publishes_only_new_alerts(redis_client: Redis, make_record: MakeRecord) -> None:
    """Entries from before the feed started are skipped; allows are read but not published."""
    await append(redis_client, make_record(1, Outcome.BLOCK))
    published: list[list[AlertItem]] = []
    feed = DecisionFeed(redis_client, published.append, options=FeedOptions(block_ms=50))
    assert await feed.read_once() == []  # "$": only what comes next
    await append(redis_client, make_record(2, Outcome.ALLOW))
    await append(redis_client, make_record(3, Outcome.REVIEW))
    await append(redis_client, make_record(4, Outcome.BLOCK))
    items = await feed.read_once()
    assert [i.transaction_id for i in items] == ["t3", "t4"]
    assert published == [items]
    assert (feed.decisions_seen, feed.alerts_published, feed.state) == (3, 2, FeedState.LIVE)


async def test_feed_skips_entries_it_cannot_decode(
    *, redis_client: Redis, make_record: MakeRecord
) -> None:
    """A foreign entry is counted and skipped; the next good one is still published."""
    published: list[list[AlertItem]] = []
    feed = DecisionFeed(redis_client, published.append, options=FeedOptions(block_ms=50))
    await feed.read_once()
    await redis_client.xadd(DECISION_STREAM, {b"v": b"9", b"r": b"?"})
    await append(redis_client, make_record(5, Outcome.BLOCK))
    items = await feed.read_once()
    assert [i.transaction_id for i in items] == ["t5"]
    assert feed.entries_rejected == 1


async def test_unreachable_redis_is_reported_as_reconnecting() -> None:
    """With Redis down the feed reports reconnecting and keeps retrying until cancelled."""
    states: list[FeedState] = []
    redis = stream_client("redis://127.0.0.1:1/0")
    feed = DecisionFeed(
        redis,
        lambda _items: None,
        on_state=states.append,
        options=FeedOptions(retry_initial_s=0.01, retry_max_s=0.02),
    )
    task = asyncio.ensure_future(feed.run())
    for _ in range(100):
        if FeedState.RECONNECTING in states:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await redis.aclose()
    assert states == [FeedState.RECONNECTING, FeedState.STOPPED]


async def test_appended_decision_reaches_an_open_page_by_push(
    *,
    user: User,
    analyst: str,
    sign_in: SignIn,
    services: UiServices,
    redis_url: str,
    redis_client: Redis,
    make_record: MakeRecord,
    table_rows: TableRows,
) -> None:
    """With the feed running, a decision appended to the stream shows on the live page."""
    reader = stream_client(redis_url)
    feed = DecisionFeed(reader, services.hub.publish, on_state=services.hub.set_state)
    task = asyncio.ensure_future(feed.run())
    try:
        await sign_in(user, analyst)
        for _ in range(100):
            if services.hub.state is FeedState.LIVE:
                break
            await asyncio.sleep(0.02)
        now = datetime.now(UTC)
        await append(redis_client, make_record(42, Outcome.BLOCK, decided_at=now, timestamp=now))
        for _ in range(100):
            rows = table_rows(user, "alerts-table")
            if rows:
                break
            await asyncio.sleep(0.02)
        assert [(r["transaction_id"], r["new"]) for r in rows] == [("t42", True)]
        await user.should_see("Live")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await reader.aclose()
