"""The replica builder refuses to start without the services it needs."""

from __future__ import annotations

import httpx
import pytest
from structlog.testing import LogCapture

from config.settings import Settings
from core.clock import ManualClock
from core.errors import ConfigError
from serving.gateway import build_gateway
from tests.unit.serving.gateway_fakes import NOW, FakeScorer


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        (Settings(redis_url="redis://127.0.0.1:6379/0"), "VIGIL_DATABASE_URL"),
        (Settings(database_url="postgresql+asyncpg://u@h/db"), "VIGIL_REDIS_URL"),
    ],
)
def test_missing_service_url_is_a_config_error(settings: Settings, missing: str) -> None:
    """Without a database or Redis URL the builder fails, naming the variable to set."""
    with pytest.raises(ConfigError) as caught:
        build_gateway(settings, FakeScorer(ManualClock(NOW)))
    assert [p.location for p in caught.value.problems] == [missing]


def test_disabled_auth_is_announced_loudly(logs: LogCapture) -> None:
    """With auth_enabled off the gateway runs keyless, announced as a warning (no I/O at build)."""
    settings = Settings(
        database_url="postgresql+asyncpg://u@h/db", redis_url="redis://h:6379/0", auth_enabled=False
    )
    build_gateway(settings, FakeScorer(ManualClock(NOW)))
    assert [e["log_level"] for e in logs.entries if e["event"] == "auth_disabled"] == ["warning"]


async def test_auth_is_on_by_default(logs: LogCapture) -> None:
    """By default every /v1 route needs a key (401 before any database lookup); probes do not."""
    settings = Settings(database_url="postgresql+asyncpg://u@h/db", redis_url="redis://h:6379/0")
    app = build_gateway(settings, FakeScorer(ManualClock(NOW)))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type] # the same ASGI protocol
    async with httpx.AsyncClient(transport=transport, base_url="http://vigil.test") as client:
        alerts = await client.get("/v1/alerts")
        health = await client.get("/health")
    assert (alerts.status_code, health.status_code) == (401, 200)
    assert not [e for e in logs.entries if e["event"] == "auth_disabled"]
