"""End to end in a real headless Chromium: a decision appended to the stream appears live,
is labelled in the browser, and the label is in PostgreSQL.

The UI runs as its own process (``python -m ui``) on the session's PostgreSQL and Redis;
decisions are appended exactly as the engine appends them (``DecisionStream.append``) and the
stream writer persists them, as in ``vigil up``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from msgspec.structs import replace
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from core.alerts import AlertLabel, AlertStatus
from core.models import Outcome
from core.records import DecisionRecord
from storage.repository import Repository
from storage.stream import DecisionStream
from storage.users import Role, UserStore
from storage.writer import StreamWriter
from tests.e2e.harness import (
    CHROMIUM,
    NO_CHROMIUM,
    UiServer,
    chromium_browser,
    label_in_browser,
    sign_in,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]
MakeRecord = Callable[..., DecisionRecord]
PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test account's password


@pytest.fixture
async def ui_server(
    database_url: str, redis_url: str, db_engine: AsyncEngine, redis_client: Redis, tmp_path: Path
) -> AsyncIterator[UiServer]:
    """The web app as its own process, with an analyst account ``eve``, on emptied services."""
    users = UserStore(
        db_engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    await users.add_user("eve", PASSWORD, role=Role.ANALYST, display_name="Eve")
    server = UiServer(database_url=database_url, redis_url=redis_url, data_dir=tmp_path / "var")
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)


async def test_alert_streams_in_live_and_is_labelled(
    ui_server: UiServer,
    stream_writer: StreamWriter,
    redis_client: Redis,
    db_engine: AsyncEngine,
    make_record: MakeRecord,
) -> None:
    """Append a block: it appears highlighted without reload; labelling it stores the label."""
    async with chromium_browser() as browser:
        page = await browser.new_page()
        await sign_in(page, ui_server.url, "eve", PASSWORD)
        await page.get_by_text("Live", exact=True).wait_for()
        now = datetime.now(UTC)
        record = make_record(
            1,
            Outcome.BLOCK,
            transaction_id="e2e-1",
            account_id="acct-e2e",
            amount=Decimal("4321.00"),
            timestamp=now,
            decided_at=now,
        )
        await DecisionStream(redis_client).append([replace(record, received_at=now)])
        row = page.locator("tr", has=page.locator('td[data-transaction-id="e2e-1"]'))
        await row.wait_for(timeout=10_000)
        assert "vigil-row-new" in (await row.get_attribute("class") or "")
        assert "4,321.00 EUR" in await row.inner_text()
        assert "BLOCK" in await row.inner_text()

        await label_in_browser(page, ui_server.url, "e2e-1", "confirmed with the cardholder")

    stored = await Repository(db_engine).get_decision("e2e-1")
    assert stored.alert is not None
    assert (stored.alert.label, stored.alert.labelled_by, stored.alert.note) == (
        AlertLabel.FRAUD,
        "eve",
        "confirmed with the cardholder",
    )
    assert stored.alert.status is AlertStatus.CLOSED
