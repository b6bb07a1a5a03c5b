"""The replica builder refuses to start without the services it needs."""

from __future__ import annotations

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


def test_without_a_verifier_auth_is_disabled_loudly(logs: LogCapture) -> None:
    """No key verifier means local-development mode, announced as a warning (no I/O at build)."""
    settings = Settings(database_url="postgresql+asyncpg://u@h/db", redis_url="redis://h:6379/0")
    build_gateway(settings, FakeScorer(ManualClock(NOW)))
    assert [e["log_level"] for e in logs.entries if e["event"] == "auth_disabled"] == ["warning"]
