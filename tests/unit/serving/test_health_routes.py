"""``/health`` says the process answers; ``/ready`` reports each dependency and 503 if any fails."""

from __future__ import annotations

import asyncio

from litestar import Litestar
from litestar.testing import AsyncTestClient
from structlog.testing import LogCapture

from core.errors import DependencyUnavailableError
from serving.readiness import ComponentStatus, ProbeReadiness, ReadinessReport
from tests.unit.serving.gateway_fakes import FakeReadiness

Client = AsyncTestClient[Litestar]


async def test_health_is_ok(client: Client) -> None:
    """Liveness answers ok without checking dependencies."""
    response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_when_every_component_is(client: Client) -> None:
    """Readiness is 200 with each component's status when all are ready."""
    response = await client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert [c["name"] for c in body["components"]] == ["redis", "postgresql"]


async def test_not_ready_is_503_naming_the_component(
    client: Client, readiness: FakeReadiness, logs: LogCapture
) -> None:
    """One component down makes readiness 503; the body and the log say which one."""
    readiness.components.append(ComponentStatus(name="model", ready=False, detail="not loaded"))
    response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert {"name": "model", "ready": False, "detail": "not loaded"} in body["components"]
    [event] = [e for e in logs.entries if e["event"] == "readiness_failed"]
    assert event["not_ready"] == ["model"]


def test_report_without_components_is_not_ready() -> None:
    """A checker that reports nothing does not make the gateway ready."""
    assert ReadinessReport.of([]).ready is False


async def test_probe_readiness_reports_each_probe() -> None:
    """Passing probes are ready with their detail; failing or slow ones are not."""

    async def redis() -> str:
        return "6.2.14"

    async def postgresql() -> None:
        raise ConnectionRefusedError("10.0.0.3:5432 refused")

    async def rules() -> None:
        raise DependencyUnavailableError("the rules deployment has no replica")

    async def model() -> None:
        await asyncio.sleep(10)

    checker = ProbeReadiness(
        {"redis": redis, "postgresql": postgresql, "rules": rules, "model": model}, timeout_s=0.05
    )
    statuses = {s.name: s for s in await checker.check()}
    assert statuses["redis"] == ComponentStatus(name="redis", ready=True, detail="6.2.14")
    assert statuses["postgresql"] == ComponentStatus(
        name="postgresql", ready=False, detail="ConnectionRefusedError"
    )
    assert statuses["rules"].detail == "the rules deployment has no replica"
    assert statuses["model"].ready is False
    assert statuses["model"].detail is not None
    assert "no answer within" in statuses["model"].detail
