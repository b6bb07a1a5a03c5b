"""Per-key rate limits: fixed windows on the gateway's clock, 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core.errors import ConfigError, RateLimitedError
from serving.auth import Principal, StaticApiKeyVerifier
from serving.errors import problem_for
from serving.rate_limit import RateLimit
from serving.settings import GatewaySettings
from tests.unit.serving.gateway_fakes import KEYS, READ_KEY, SCORE_KEY, auth, transaction_body

T = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("window_s", "offset", "expected"),
    [
        (1, 0.0, (int(T), 1)),
        (1, 0.25, (int(T), 1)),
        (60, 0.0, (int(T) // 60, 60)),
        (60, 59.5, (int(T) // 60, 1)),
        (60, 60.0, (int(T) // 60 + 1, 60)),
        (60, 12.2, (int(T) // 60, 48)),
    ],
)
def test_windows_are_aligned_to_the_epoch(
    window_s: int, offset: float, expected: tuple[int, int]
) -> None:
    """Window n covers [n*w, (n+1)*w); Retry-After is the whole seconds left, at least 1."""
    assert RateLimit(10, window_s).window(T + offset) == expected


@pytest.mark.parametrize(("requests", "window_s"), [(0, 1), (5, 0)])
def test_a_limit_that_refuses_everything_is_a_config_error(requests: int, window_s: int) -> None:
    """Zero requests (say 0 in the setting to disable) or a zero window is refused."""
    with pytest.raises(ConfigError):
        RateLimit(requests, window_s)


def test_rate_limited_is_429_rate_limited() -> None:
    """RateLimitedError maps to a 429 problem of type rate-limited."""
    problem = problem_for(RateLimitedError("slow down", retry_after_s=3))
    assert (problem.status, problem.type) == (429, "urn:vigil:problem:rate-limited")


class CountingLimiter:
    """Counts every request (refused ones too) per key id; refuses over ``limit``, Retry-After 7."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[str, int] = {}

    async def hit(self, key_id: str, requests: int = 1, *, counted: int = 0) -> None:
        """Count; refuse over the limit."""
        self.counts[key_id] = self.counts.get(key_id, 0) + requests - counted
        if self.counts[key_id] > self.limit:
            raise RateLimitedError("over the limit", retry_after_s=7)


async def test_over_the_limit_is_429_with_retry_after(build_app: Callable[..., Litestar]) -> None:
    """Authenticated requests are counted per key id; the one over the limit is 429."""
    limiter = CountingLimiter(2)
    async with AsyncTestClient(app=build_app(rate_limiter=limiter)) as client:
        statuses = [
            (await client.get("/v1/alerts", headers=auth(READ_KEY))).status_code for _ in range(3)
        ]
        refused = await client.get("/v1/alerts", headers=auth(READ_KEY))
        anonymous = await client.get("/v1/alerts")
    assert statuses == [200, 200, 429]
    assert refused.headers["retry-after"] == "7"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == "urn:vigil:problem:rate-limited"
    assert anonymous.status_code == 401
    assert limiter.counts == {"k-read": 4}


async def test_without_auth_nothing_is_counted(build_app: Callable[..., Litestar]) -> None:
    """With authentication off (local development) the limiter is never asked."""
    limiter = CountingLimiter(0)
    app = build_app(
        settings=GatewaySettings(auth_enabled=False), verifier=None, rate_limiter=limiter
    )
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/v1/alerts")).status_code == 200
    assert limiter.counts == {}


async def test_a_batch_counts_one_request_per_transaction(
    build_app: Callable[..., Litestar],
) -> None:
    """A batch of 3 uses 3 of the key's budget; a rejected (400) batch still costs one request."""
    limiter = CountingLimiter(100)
    items = [transaction_body(transaction_id=f"t-{i}") for i in range(3)]
    async with AsyncTestClient(app=build_app(rate_limiter=limiter)) as client:
        scored = await client.post(
            "/v1/transactions/batch", json={"items": items}, headers=auth(SCORE_KEY)
        )
        assert scored.status_code == 200, scored.text
        assert limiter.counts == {"k-score": 3}
        bad = await client.post(
            "/v1/transactions/batch", json={"items": []}, headers=auth(SCORE_KEY)
        )
        assert bad.status_code == 400
    assert limiter.counts == {"k-score": 4}


class CountingVerifier:
    """The static keys, counting lookups."""

    def __init__(self) -> None:
        self.lookups = 0
        self._keys = StaticApiKeyVerifier(KEYS)

    async def verify(self, api_key: str) -> Principal | None:
        """Count, then look up."""
        self.lookups += 1
        return await self._keys.verify(api_key)


class FailureCounter:
    """Blocks an address after ``limit`` failures (Retry-After 5)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.failures: dict[str, int] = {}

    def check(self, client: str) -> None:
        """Refuse a blocked address."""
        if self.failures.get(client, 0) >= self.limit:
            raise RateLimitedError("blocked", retry_after_s=5)

    async def failed(self, client: str) -> None:
        """Count a failure."""
        self.failures[client] = self.failures.get(client, 0) + 1


async def test_a_blocked_address_is_refused_before_its_key_is_looked_up(
    build_app: Callable[..., Litestar],
) -> None:
    """Every 401 is counted per client address; once blocked, no key is looked up for it."""
    verifier = CountingVerifier()
    failures = FailureCounter(2)
    app = build_app(verifier=verifier, auth_failures=failures)
    async with AsyncTestClient(app=app) as client:
        statuses = [
            (await client.get("/v1/alerts", headers=auth(key))).status_code
            for key in ("vgl_guess_1", READ_KEY, "vgl_guess_2", "vgl_guess_3", READ_KEY)
        ]
        missing = await client.get("/v1/alerts")
    assert statuses == [401, 200, 401, 429, 429]
    assert missing.status_code == 429
    assert missing.headers["retry-after"] == "5"
    assert verifier.lookups == 3
    assert failures.failures == {"testclient": 2}
