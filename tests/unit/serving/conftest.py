"""Fixtures: the gateway app built by create_app from in-process collaborators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import structlog
from litestar import Litestar
from litestar.testing import AsyncTestClient
from structlog.testing import LogCapture

from core.clock import ManualClock
from serving.app import create_app
from serving.auth import StaticApiKeyVerifier
from serving.settings import GatewaySettings
from tests.unit.serving.gateway_fakes import (
    KEYS,
    NOW,
    FakeLabels,
    FakeOperations,
    FakePublisher,
    FakeReadiness,
    FakeRecords,
    FakeScorer,
)


@pytest.fixture
def clock() -> ManualClock:
    """The gateway's clock, fixed at NOW."""
    return ManualClock(NOW)


@pytest.fixture
def scorer(clock: ManualClock) -> FakeScorer:
    """The deterministic in-process scorer."""
    return FakeScorer(clock)


@pytest.fixture
def records(clock: ManualClock) -> FakeRecords:
    """An empty in-memory record store."""
    return FakeRecords(clock)


@pytest.fixture
def labels(records: FakeRecords) -> FakeLabels:
    """An empty in-memory label store over ``records``."""
    return FakeLabels(records)


@pytest.fixture
def publisher() -> FakePublisher:
    """A label publisher that remembers what it was given."""
    return FakePublisher()


@pytest.fixture
def readiness() -> FakeReadiness:
    """All components ready."""
    return FakeReadiness()


@pytest.fixture
def operations() -> FakeOperations:
    """Four healthy deployments of one replica each, two rules replicas on version v1."""
    return FakeOperations()


@pytest.fixture
def settings() -> GatewaySettings:
    """Small limits so the limit tests stay small."""
    return GatewaySettings(
        max_body_bytes=64 * 1024, max_batch_items=5, max_label_items=5, max_page_size=20
    )


@pytest.fixture
def build_app(
    *,
    scorer: FakeScorer,
    records: FakeRecords,
    readiness: FakeReadiness,
    clock: ManualClock,
    settings: GatewaySettings,
    operations: FakeOperations,
    labels: FakeLabels,
    publisher: FakePublisher,
) -> Callable[..., Litestar]:
    """Build the app from the fixtures; keyword arguments override create_app's."""

    def build(**overrides: Any) -> Litestar:
        kwargs: dict[str, Any] = {
            "settings": settings,
            "scorer": scorer,
            "records": records,
            "readiness": readiness,
            "clock": clock,
            "verifier": StaticApiKeyVerifier(KEYS),
            "operations": operations,
            "labels": labels,
            "label_publisher": publisher,
        }
        kwargs.update(overrides)
        return create_app(**kwargs)

    return build


@pytest.fixture
async def client(build_app: Callable[..., Litestar]) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A test client of the app with authentication enabled."""
    async with AsyncTestClient(app=build_app()) as test_client:
        yield test_client


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Every structlog event, with the bound context variables merged in."""
    capture = LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    try:
        yield capture
    finally:
        structlog.reset_defaults()
