"""API keys and rate limits end to end: the replica's gateway over real PostgreSQL and Redis.

The gateway is built by ``build_gateway`` exactly as on a Serve replica (keys checked against the
``api_keys`` table through the cache, counted in Redis); its clock is a ManualClock, so the cache
TTL and the rate-limit windows pass without sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from core.access import Scope
from core.clock import ManualClock
from core.models import Decision, Transaction
from core.records import DecisionRecord
from serving.gateway import build_gateway
from storage.api_keys import ApiKeyStore
from storage.persist import insert_records

NOW = datetime(2026, 3, 1, 9, 0, 0, 250_000, tzinfo=UTC)
TTL_S = 5.0
LIMIT = 3
WINDOW_S = 60

MakeRecord = Callable[..., DecisionRecord]
Keys = dict[str, str]


class UnusedScorer:
    """These tests never score; a call would be a bug."""

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """Fail loudly."""
        raise AssertionError("the scorer is not part of these tests")

    async def ready(self) -> Mapping[str, str]:
        """No versions."""
        return {}


def bearer(key: str) -> dict[str, str]:
    """The Authorization header carrying ``key``."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def clock() -> ManualClock:
    """The gateway's clock (a quarter second into a minute)."""
    return ManualClock(NOW)


@pytest.fixture
async def keys(db_engine: AsyncEngine, make_record: MakeRecord, clock: ManualClock) -> Keys:
    """A stored decision t1 and three keys: score, read, admin."""
    async with db_engine.begin() as connection:
        await insert_records(connection, [make_record(1)])
    store = ApiKeyStore(db_engine, clock=clock)
    return {
        scope.value: (
            await store.create(f"{scope.value}-client", {scope}, created_by="test")
        ).secret
        for scope in Scope
    }


@pytest.fixture
async def client(
    database_url: str, redis_url: str, redis_client: Redis, clock: ManualClock, keys: Keys
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with auth on (the default), a 5 s key cache and 3 requests per minute."""
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        api_key_cache_ttl_s=TTL_S,
        rate_limit_requests=LIMIT,
        rate_limit_window_s=WINDOW_S,
    )
    app = build_gateway(settings, UnusedScorer(), clock=clock)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type] # the same ASGI protocol
    async with httpx.AsyncClient(transport=transport, base_url="http://vigil.test") as test_client:
        yield test_client
    for close in app.on_shutdown:  # the pools; app.lifespan() must exit in the task it entered
        await cast("Callable[[], Awaitable[None]]", close)()  # build_gateway's hooks take none


async def test_no_key_is_401(client: httpx.AsyncClient) -> None:
    """A /v1 request without a key is 401 with a Bearer challenge; /health needs none."""
    response = await client.get("/v1/transactions/t1")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await client.get("/health")).status_code == 200


async def test_read_key_reads(client: httpx.AsyncClient, keys: Keys) -> None:
    """A read key may read a stored decision."""
    response = await client.get("/v1/transactions/t1", headers=bearer(keys["read"]))
    assert response.status_code == 200, response.text
    assert response.json()["transaction"]["transaction_id"] == "t1"


async def test_score_key_on_an_admin_route_is_403(client: httpx.AsyncClient, keys: Keys) -> None:
    """Labelling an alert needs admin: a score key is 403, an admin key gets through."""
    body = {"label": "fraud"}
    refused = await client.post("/v1/alerts/1/label", json=body, headers=bearer(keys["score"]))
    allowed = await client.post("/v1/alerts/1/label", json=body, headers=bearer(keys["admin"]))
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:vigil:problem:forbidden"
    assert allowed.status_code == 404  # authorised; there is no alert 1


async def test_revoked_key_is_401_once_the_cache_ttl_passed(
    client: httpx.AsyncClient, keys: Keys, db_engine: AsyncEngine, clock: ManualClock
) -> None:
    """After `vigil keys revoke` the key keeps working at most the cache TTL, then is 401."""
    assert (await client.get("/v1/alerts", headers=bearer(keys["read"]))).status_code == 200
    await ApiKeyStore(db_engine, clock=clock).revoke(keys["read"].split("_")[1])
    assert (await client.get("/v1/alerts", headers=bearer(keys["read"]))).status_code == 200
    clock.advance(timedelta(seconds=TTL_S))
    revoked = await client.get("/v1/alerts", headers=bearer(keys["read"]))
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "the API key is unknown or revoked"


async def test_rate_limit_is_per_key_with_retry_after(
    client: httpx.AsyncClient, keys: Keys, clock: ManualClock
) -> None:
    """The request over the limit is 429 with Retry-After; other keys and the next window pass."""
    statuses = [
        (await client.get("/v1/alerts", headers=bearer(keys["read"]))).status_code
        for _ in range(LIMIT + 1)
    ]
    assert statuses == [200] * LIMIT + [429]
    clock.advance(timedelta(seconds=20))
    refused = await client.get("/v1/alerts", headers=bearer(keys["read"]))
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "40"  # 59.75 s left in the minute at 20.25 s -> 40
    assert refused.json()["type"] == "urn:vigil:problem:rate-limited"
    other = await client.get("/v1/alerts", headers=bearer(keys["admin"]))
    assert other.status_code == 200
    clock.advance(timedelta(seconds=40))
    assert (await client.get("/v1/alerts", headers=bearer(keys["read"]))).status_code == 200
