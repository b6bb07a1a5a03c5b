"""The gateway over real PostgreSQL (storage's Repository) and real Redis readiness probes.

Requests go through httpx's ASGI transport, which runs the app on the test's own event loop: the
session's database engine is bound to that loop (Litestar's test clients run the app on another).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from core.alerts import AlertLabel, AlertStatus
from core.clock import ManualClock
from core.errors import DependencyUnavailableError
from core.models import Decision, Outcome, Transaction
from core.records import DecisionRecord
from serving.app import create_app
from serving.auth import Principal, Scope, StaticApiKeyVerifier
from serving.gateway import build_gateway
from serving.readiness import ProbeReadiness
from serving.settings import GatewaySettings
from storage.api_keys import ApiKeyStore
from storage.persist import insert_records
from storage.repository import Repository

MakeRecord = Callable[..., DecisionRecord]
Client = httpx.AsyncClient
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
ANALYST_KEY = "analyst-key-0123456789"
HEADERS = {"Authorization": f"Bearer {ANALYST_KEY}"}


class UnusedScorer:
    """These tests never score; a call would be a bug."""

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """Fail loudly."""
        raise AssertionError("the scorer is not part of these tests")

    async def ready(self) -> Mapping[str, str]:
        """Fixed versions."""
        return {}


def _client(app: Litestar) -> httpx.AsyncClient:
    # Litestar types ASGI messages as TypedDicts, httpx as plain mappings: the same protocol.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://vigil.test")


@pytest.fixture
async def stored(db_engine: AsyncEngine, make_record: MakeRecord) -> AsyncEngine:
    """Ten stored decisions t0..t9 one minute apart; outcome by i % 3 (allow, review, block)."""
    outcomes = [Outcome.ALLOW, Outcome.REVIEW, Outcome.BLOCK]
    async with db_engine.begin() as connection:
        await insert_records(connection, [make_record(i, outcomes[i % 3]) for i in range(10)])
    return db_engine


@pytest.fixture
async def client(stored: AsyncEngine, redis_client: Redis) -> AsyncIterator[Client]:
    """The gateway on the real repository, with PostgreSQL and Redis readiness probes."""

    async def postgresql() -> str:
        async with stored.connect() as connection:
            return str((await connection.execute(text("SHOW server_version"))).scalar_one())

    async def redis() -> str:
        info: dict[str, Any] = await redis_client.info("server")
        return str(info["redis_version"])

    app = create_app(
        settings=GatewaySettings(),
        scorer=UnusedScorer(),
        records=Repository(stored, clock=ManualClock(NOW)),
        readiness=ProbeReadiness({"postgresql": postgresql, "redis": redis}),
        clock=ManualClock(NOW),
        verifier=StaticApiKeyVerifier(
            {ANALYST_KEY: Principal(key_id="k1", subject="ana", scopes=frozenset({Scope.ADMIN}))}
        ),
    )
    async with _client(app) as test_client:
        yield test_client


async def test_stored_decision_is_served(client: Client, make_record: MakeRecord) -> None:
    """GET /v1/transactions/{id} returns what was stored: transaction, decision, alert."""
    original = make_record(5, Outcome.BLOCK)
    response = await client.get("/v1/transactions/t5", headers=HEADERS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert Decimal(body["transaction"]["amount"]) == original.transaction.amount
    assert body["transaction"]["attributes"] == {"promo": True}
    assert body["decision"]["outcome"] == "block"
    assert body["decision"]["reasons"][0]["code"] == "r_block"
    assert body["decision"]["rule_results"][0]["outcome"] == "hit"
    assert body["alert"]["status"] == "open"


async def test_unknown_transaction_is_404(client: Client) -> None:
    """A transaction never stored is a 404 problem."""
    response = await client.get("/v1/transactions/nope", headers=HEADERS)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_alerts_are_filtered_and_paged(client: Client) -> None:
    """Filters reach SQL; following next_cursor visits every matching alert once."""
    blocks = await client.get("/v1/alerts", params={"outcome": "block"}, headers=HEADERS)
    assert [a["transaction_id"] for a in blocks.json()["items"]] == ["t8", "t5", "t2"]

    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 4}
    while True:
        page = (await client.get("/v1/alerts", params=params, headers=HEADERS)).json()
        seen += [a["transaction_id"] for a in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": 4, "cursor": page["next_cursor"]}
    assert seen == ["t8", "t7", "t5", "t4", "t2", "t1"]


async def test_alerts_filtered_by_time_account_and_score(client: Client) -> None:
    """Account, minimum score and a [since, until) time window combine."""
    params = {
        "account_id": "acct1",
        "min_score": "0.5",
        "since": "2026-01-01T12:04:00Z",
        "until": "2026-01-01T12:08:00Z",
    }
    response = await client.get("/v1/alerts", params=params, headers=HEADERS)
    assert [a["transaction_id"] for a in response.json()["items"]] == ["t7", "t4"]


async def test_label_is_stored_with_who_labelled(client: Client, stored: AsyncEngine) -> None:
    """Labelling through the API persists the verdict, the note, the key's subject and the time."""
    alert_id = (await client.get("/v1/alerts", params={"limit": 1}, headers=HEADERS)).json()[
        "items"
    ][0]["id"]
    response = await client.post(
        f"/v1/alerts/{alert_id}/label",
        json={"label": "fraud", "note": "chargeback received"},
        headers=HEADERS,
    )
    assert response.status_code == 200, response.text
    stored_alert = (await Repository(stored).get_decision("t8")).alert
    assert stored_alert is not None
    assert (stored_alert.id, stored_alert.label, stored_alert.labelled_by) == (
        alert_id,
        AlertLabel.FRAUD,
        "ana",
    )
    assert (stored_alert.note, stored_alert.labelled_at) == ("chargeback received", NOW)
    assert stored_alert.status is AlertStatus.CLOSED
    fraud = await client.get("/v1/alerts", params={"label": "fraud"}, headers=HEADERS)
    assert [a["id"] for a in fraud.json()["items"]] == [alert_id]


async def test_labelling_an_unknown_alert_is_404(client: Client) -> None:
    """An alert id that does not exist is a 404 problem, and nothing is written."""
    response = await client.post(
        "/v1/alerts/999999/label", json={"label": "legit"}, headers=HEADERS
    )
    assert response.status_code == 404


async def test_ready_probes_real_services(client: Client) -> None:
    """Readiness pings PostgreSQL and Redis and reports their versions."""
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    components = {c["name"]: c for c in response.json()["components"]}
    assert components["postgresql"]["ready"] is True
    assert components["redis"]["ready"] is True
    assert components["redis"]["detail"]


async def test_unreachable_database_is_not_ready() -> None:
    """A PostgreSQL that refuses connections makes readiness 503 naming it."""
    from storage.database import create_engine  # noqa: PLC0415

    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none", pool_pre_ping=False)

    async def postgresql() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    app = create_app(
        settings=GatewaySettings(auth_enabled=False),
        scorer=UnusedScorer(),
        records=Repository(engine),
        readiness=ProbeReadiness({"postgresql": postgresql}, timeout_s=5),
        clock=ManualClock(NOW),
    )
    try:
        async with _client(app) as test_client:
            response = await test_client.get("/ready")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    [component] = response.json()["components"]
    assert (component["name"], component["ready"]) == ("postgresql", False)


class VersionedScorer(UnusedScorer):
    """Reports stage versions, or fails like a scorer whose stages do not answer."""

    def __init__(self) -> None:
        self.failure: Exception | None = None

    async def ready(self) -> Mapping[str, str]:
        """The versions now scoring."""
        if self.failure is not None:
            raise self.failure
        return {"model_version": "m-1", "ruleset_version": "rs-1"}


async def test_build_gateway_wires_real_services(
    stored: AsyncEngine, database_url: str, redis_url: str
) -> None:
    """The replica's builder serves stored decisions (to a stored API key) and probes
    PostgreSQL, Redis and scoring."""
    scorer = VersionedScorer()
    issued = await ApiKeyStore(stored).create("reader", {Scope.READ}, created_by="test")
    app = build_gateway(Settings(database_url=database_url, redis_url=redis_url), scorer)
    async with app.lifespan(), _client(app) as test_client:  # shutdown closes the pools
        decision = await test_client.get(
            "/v1/transactions/t4", headers={"Authorization": f"Bearer {issued.secret}"}
        )
        ready = await test_client.get("/ready")
        scorer.failure = DependencyUnavailableError("ensemble: no replica answered")
        not_ready = await test_client.get("/ready")
    assert decision.json()["decision"]["outcome"] == "review"
    components = {c["name"]: c for c in ready.json()["components"]}
    assert ready.status_code == 200, ready.text
    assert components["postgresql"]["detail"].startswith("PostgreSQL")
    assert components["redis"]["detail"].startswith("Redis")
    assert components["scoring"]["detail"] == "model_version=m-1, ruleset_version=rs-1"
    assert not_ready.status_code == 503
    failed = {c["name"]: c for c in not_ready.json()["components"]}["scoring"]
    assert failed == {
        "name": "scoring",
        "ready": False,
        "detail": "ensemble: no replica answered",
    }
