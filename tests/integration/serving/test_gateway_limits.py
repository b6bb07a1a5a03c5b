"""Rate limits end to end: batches against a key's budget, failed authentications per address.

The gateway is built by ``build_gateway`` as on a Serve replica (keys in PostgreSQL, counters in
Redis), on a ManualClock so the windows pass without sleeping; httpx's ASGI transport sets the
client address each request comes from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from core.access import Scope
from core.clock import ManualClock
from serving.gateway import build_gateway
from storage.api_keys import ApiKeyStore, generate_key
from tests.unit.serving.gateway_fakes import FakeScorer, transaction_body

NOW = datetime(2026, 3, 1, 9, 0, 0, 250_000, tzinfo=UTC)
LIMIT = 10
WINDOW_S = 60
FAILURES = 3
FAILURE_WINDOW_S = 10
CLIENT = "198.51.100.7"
OTHER_CLIENT = "203.0.113.9"


def bearer(key: str) -> dict[str, str]:
    """The Authorization header carrying ``key``."""
    return {"Authorization": f"Bearer {key}"}


def batch(size: int, start: int = 0) -> dict[str, Any]:
    """A valid batch of ``size`` transactions with distinct ids."""
    return {"items": [transaction_body(transaction_id=f"t-{start + i}") for i in range(size)]}


@pytest.fixture
def clock() -> ManualClock:
    """The gateway's clock (a quarter second into a minute)."""
    return ManualClock(NOW)


@pytest.fixture
async def score_key(db_engine: AsyncEngine, clock: ManualClock) -> str:
    """A stored key with the score scope."""
    store = ApiKeyStore(db_engine, clock=clock)
    return (await store.create("payments", {Scope.SCORE}, created_by="test")).secret


@pytest.fixture
async def gateway(
    database_url: str, redis_url: str, redis_client: Redis, clock: ManualClock, score_key: str
) -> AsyncIterator[Litestar]:
    """The gateway with 10 requests per key per minute and 3 failed authentications per 10 s."""
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        rate_limit_requests=LIMIT,
        rate_limit_window_s=WINDOW_S,
        failed_auth_limit=FAILURES,
        failed_auth_window_s=FAILURE_WINDOW_S,
    )
    app = build_gateway(settings, FakeScorer(clock), clock=clock)
    yield app
    for close in app.on_shutdown:  # the pools; app.lifespan() must exit in the task it entered
        await cast("Callable[[], Awaitable[None]]", close)()  # build_gateway's hooks take none


@asynccontextmanager
async def client_from(app: Litestar, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests reach ``app`` from ``address``."""
    # Litestar types ASGI messages as TypedDicts, httpx as plain mappings: the same protocol.
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://vigil.test") as client:
        yield client


async def test_a_batch_uses_one_request_per_transaction(gateway: Litestar, score_key: str) -> None:
    """A batch of N uses N of the key's budget; one that does not fit is 429 and uses none."""
    async with client_from(gateway, CLIENT) as client:
        first = await client.post(
            "/v1/transactions/batch", json=batch(4), headers=bearer(score_key)
        )
        assert first.status_code == 200, first.text
        refused = await client.post(
            "/v1/transactions/batch", json=batch(7, 10), headers=bearer(score_key)
        )
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.headers["retry-after"] == "60"
        problem = refused.json()
        assert problem["type"] == "urn:vigil:problem:rate-limited"
        assert "10 requests per 60 s" in problem["detail"]
        assert "6 left" in problem["detail"]
        rest = await client.post(
            "/v1/transactions/batch", json=batch(6, 20), headers=bearer(score_key)
        )
        assert rest.status_code == 200, rest.text
        one_more = await client.post(
            "/v1/transactions",
            json=transaction_body(transaction_id="t-99"),
            headers=bearer(score_key),
        )
        assert one_more.status_code == 429


async def test_a_batch_larger_than_the_limit_is_429_naming_it(
    gateway: Litestar, score_key: str
) -> None:
    """A batch that can never fit says so, and leaves the budget to smaller requests."""
    async with client_from(gateway, CLIENT) as client:
        refused = await client.post(
            "/v1/transactions/batch", json=batch(LIMIT + 1), headers=bearer(score_key)
        )
        assert refused.status_code == 429
        assert "more than this API key's limit of 10 requests per 60 s" in refused.json()["detail"]
        full = await client.post(
            "/v1/transactions/batch", json=batch(LIMIT), headers=bearer(score_key)
        )
        assert full.status_code == 200, full.text


async def test_failed_authentications_are_limited_per_address(
    gateway: Litestar, score_key: str, clock: ManualClock
) -> None:
    """After 3 refused keys in 10 s an address gets 429 with Retry-After; others are unaffected."""
    body = transaction_body()
    async with (
        client_from(gateway, CLIENT) as attacker,
        client_from(gateway, OTHER_CLIENT) as other,
    ):
        guesses = [
            (
                await attacker.post(
                    "/v1/transactions", json=body, headers=bearer(generate_key()[1])
                )
            ).status_code
            for _ in range(FAILURES + 1)
        ]
        assert guesses == [401] * FAILURES + [429]
        blocked = await attacker.post("/v1/transactions", json=body, headers=bearer(score_key))
        assert blocked.status_code == 429
        assert blocked.headers["retry-after"] == "10"  # 9.75 s left in the 10 s window
        assert blocked.headers["content-type"].startswith("application/problem+json")
        assert blocked.json()["type"] == "urn:vigil:problem:rate-limited"
        assert "missing, unknown or revoked API key" in blocked.json()["detail"]
        assert (
            await other.post("/v1/transactions", json=body, headers=bearer(score_key))
        ).is_success
        clock.advance(timedelta(seconds=FAILURE_WINDOW_S))
        later = await attacker.post("/v1/transactions", json=body, headers=bearer(score_key))
        assert later.status_code == 200, later.text
