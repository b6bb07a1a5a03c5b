"""End to end through every real part: transactions sent to the gateway (Ray Serve, Redis
features, YAML rules, the model) become an alert that appears live in headless Chromium; the
analyst labels it there, and an API client reads the label back from ``GET /v1/alerts``.

The web app runs as its own process pointed at the engine's gateway; the stream writer persists
decisions as ``vigil up`` runs it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
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
PASSWORD = "correct horse battery"  # noqa: S105 - a throw-away test account's password
BURST = 5
"""The starter rule ``card-testing-burst`` blocks the fifth tiny payment within minutes."""


def _payload(n: int, at: datetime) -> dict[str, Any]:
    return {
        "transaction_id": f"e2e-gw-{n}",
        "account_id": "acct-e2e-gw",
        "amount": "1.00",
        "currency": "EUR",
        "timestamp": at.isoformat(),
        "merchant_id": "mrc-e2e",
        "merchant_category": "5999",
        "country": "FR",
        "channel": "ecommerce",
        "device_id": "dev-e2e-gw",
    }


@pytest.fixture
async def ui_server(
    engine_settings: Settings,
    database_url: str,
    redis_url: str,
    db_engine: AsyncEngine,
    tmp_path: Path,
) -> AsyncIterator[UiServer]:
    """The web app on the engine's PostgreSQL, Redis and gateway, with analyst ``eve``."""
    users = UserStore(
        db_engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    await users.add_user("eve", PASSWORD, role=Role.ANALYST, display_name="Eve")
    server = UiServer(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path / "var",
        gateway_port=engine_settings.http_port,
    )
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)


async def test_scored_burst_appears_live_and_its_label_reaches_the_api(
    gateway_url: str, ui_server: UiServer, stream_writer: StreamWriter
) -> None:
    """The blocked fifth payment of a burst shows up live; its browser label is in the API."""
    start = datetime.now(UTC) - timedelta(seconds=30)
    async with (
        chromium_browser() as browser,
        httpx.AsyncClient(base_url=gateway_url, timeout=30) as api,
    ):
        page = await browser.new_page()
        await sign_in(page, ui_server.url, "eve", PASSWORD)
        await page.get_by_text("Live", exact=True).wait_for()

        outcomes = []
        for n in range(BURST):
            reply = await api.post(
                "/v1/transactions", json=_payload(n, start + timedelta(seconds=2 * n))
            )
            assert reply.status_code == 200, reply.text
            outcomes.append(reply.json()["outcome"])
        decided = time.monotonic()
        assert outcomes[-1] == "block", outcomes
        blocked = f"e2e-gw-{BURST - 1}"

        row = page.locator("tr", has=page.locator(f'td[data-transaction-id="{blocked}"]'))
        await row.wait_for(timeout=10_000)
        seen_after_s = time.monotonic() - decided
        print(f"\nalert visible in the browser {seen_after_s:.2f} s after the reply")  # noqa: T201
        assert "vigil-row-new" in (await row.get_attribute("class") or "")
        assert "BLOCK" in await row.inner_text()

        await label_in_browser(page, ui_server.url, blocked, "card testing, confirmed")

        listing = await api.get(
            "/v1/alerts", params={"account_id": "acct-e2e-gw", "label": "fraud"}
        )
    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert [(a["transaction_id"], a["label"], a["labelled_by"], a["note"]) for a in items] == [
        (blocked, "fraud", "eve", "card testing, confirmed")
    ]
