"""``POST /v1/labels`` and alert verdicts over real PostgreSQL, with a recording publisher.

Requests go through httpx's ASGI transport on the test's own event loop (the session's database
engine is bound to it), as in ``test_gateway_postgres``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from core.alerts import AlertLabel
from core.clock import ManualClock
from core.labels import KnownLabel
from core.models import Decision, Outcome, Transaction
from core.records import DecisionRecord
from serving.app import create_app
from serving.auth import Principal, Scope, StaticApiKeyVerifier
from serving.gateway import build_gateway
from serving.readiness import ProbeReadiness
from serving.settings import GatewaySettings
from storage.api_keys import ApiKeyStore
from storage.labels import LabelStore
from storage.persist import insert_records
from storage.repository import Repository

MakeRecord = Callable[..., DecisionRecord]
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # make_record's first event time
KEY = "label-key-0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}"}


class UnusedScorer:
    """These tests never score."""

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """Fail loudly."""
        raise AssertionError("the scorer is not part of these tests")

    async def ready(self) -> Mapping[str, str]:
        """No stages."""
        return {}


class RecordingPublisher:
    """Remembers every batch it is given; raises ``fail_with`` when set."""

    def __init__(self) -> None:
        self.published: list[list[KnownLabel]] = []
        self.fail_with: Exception | None = None

    async def publish(self, labels: Sequence[KnownLabel]) -> None:
        """Remember, or fail."""
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(list(labels))


def _client(app: Litestar) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://vigil.test")


@pytest.fixture
async def stored(db_engine: AsyncEngine, make_record: MakeRecord) -> AsyncEngine:
    """Stored decisions t0..t3; t1 is a review alert; t2 has device dev-9."""
    records = [
        make_record(0),
        make_record(1, Outcome.REVIEW),
        make_record(2, device_id="dev-9", merchant_id="m-7"),
        make_record(3),
    ]
    async with db_engine.begin() as connection:
        await insert_records(connection, records)
    return db_engine


@pytest.fixture
def publisher() -> RecordingPublisher:
    """The online store's stand-in."""
    return RecordingPublisher()


@pytest.fixture
async def client(
    stored: AsyncEngine, publisher: RecordingPublisher
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway on the real repository and label store, with a label-scoped key."""
    app = create_app(
        settings=GatewaySettings(),
        scorer=UnusedScorer(),
        records=Repository(stored, clock=ManualClock(NOW)),
        readiness=ProbeReadiness({}),
        clock=ManualClock(NOW),
        verifier=StaticApiKeyVerifier(
            {KEY: Principal(key_id="k1", subject="chargebacks", scopes=frozenset({Scope.LABEL}))}
        ),
        labels=LabelStore(stored, clock=ManualClock(NOW)),
        label_publisher=publisher,
    )
    async with _client(app) as test_client:
        yield test_client


def item(transaction_id: str, label: str = "fraud", **fields: Any) -> dict[str, Any]:
    """One label item."""
    return {"transaction_id": transaction_id, "label": label, **fields}


async def test_batch_is_stored_and_answered_per_item(
    client: httpx.AsyncClient, stored: AsyncEngine
) -> None:
    """Each item is answered in order; unknown ids do not fail the batch; the labels are in
    PostgreSQL with who sent them."""
    body = {
        "items": [
            item("t0", known_at="2026-01-10T00:00:00Z", source="chargeback"),
            item("t-unknown"),
            item("t3", "legit"),
            item("t0", known_at="2026-01-10T00:00:00Z", source="chargeback"),
            item("t3", known_at="2025-12-01T00:00:00Z"),
        ]
    }
    response = await client.post("/v1/labels", json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [i["status"] for i in answer["items"]] == [
        "recorded",
        "unknown_transaction",
        "recorded",
        "unchanged",
        "known_before_transaction",
    ]
    assert answer["items"][1]["detail"] == "no transaction 't-unknown' is stored"
    counts = [answer[k] for k in ("recorded", "unchanged", "unknown_transaction")]
    assert counts == [2, 1, 1]
    assert answer["known_before_transaction"] == 1
    history = await LabelStore(stored).history("t3")
    assert [(e.known.label, e.known.source, e.recorded_by) for e in history] == [
        (AlertLabel.LEGIT, "api", "chargebacks")
    ]
    assert history[0].known.known_at == NOW


async def test_publisher_gets_known_labels_with_entities(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    """The publisher is given the stored labels as KnownLabels carrying the transaction's
    account, merchant, device, IP and event time."""
    body = {"items": [item("t2", known_at="2026-01-05T00:00:00Z"), item("t-unknown")]}
    answer = (await client.post("/v1/labels", json=body, headers=HEADERS)).json()
    assert answer["online"] is True
    [[label]] = publisher.published
    assert label == KnownLabel(
        transaction_id="t2",
        label=AlertLabel.FRAUD,
        known_at=datetime(2026, 1, 5, tzinfo=UTC),
        source="api",
        account_id="acct2",
        merchant_id="m-7",
        device_id="dev-9",
        ip_address="192.0.2.10",
        event_time=T0 + timedelta(minutes=2),
    )


async def test_failing_publisher_keeps_the_labels(
    client: httpx.AsyncClient, stored: AsyncEngine, publisher: RecordingPublisher
) -> None:
    """A failed push is answered online false; the labels are in PostgreSQL, and resending the
    batch pushes them (unchanged) once the online store is back."""
    publisher.fail_with = ConnectionError("connection refused")
    body = {"items": [item("t0", known_at="2026-01-05T00:00:00Z")]}
    failed = (await client.post("/v1/labels", json=body, headers=HEADERS)).json()
    assert failed["online"] is False
    assert failed["items"][0]["status"] == "recorded"
    assert (await LabelStore(stored).current(["t0"]))["t0"].label is AlertLabel.FRAUD
    publisher.fail_with = None
    retried = (await client.post("/v1/labels", json=body, headers=HEADERS)).json()
    assert (retried["online"], retried["items"][0]["status"]) == (True, "unchanged")
    assert [label.transaction_id for label in publisher.published[0]] == ["t0"]


async def test_alert_verdict_is_a_label_pushed_online(
    client: httpx.AsyncClient, stored: AsyncEngine, publisher: RecordingPublisher
) -> None:
    """Labelling an alert over HTTP stores an analyst label event and pushes it."""
    alerts = (await client.get("/v1/alerts", headers=HEADERS)).status_code
    assert alerts == 403  # the label scope does not read
    [alert] = (await Repository(stored).list_alerts()).items
    response = await client.post(
        f"/v1/alerts/{alert.id}/label", json={"label": "fraud"}, headers=HEADERS
    )
    assert response.status_code == 200, response.text
    [[pushed]] = publisher.published
    assert (pushed.transaction_id, pushed.source, pushed.known_at) == ("t1", "analyst", NOW)
    [event] = await LabelStore(stored).history("t1")
    assert event.recorded_by == "chargebacks"


async def test_build_gateway_serves_labels_with_a_stored_key(
    stored: AsyncEngine, database_url: str, redis_url: str
) -> None:
    """The replica's builder serves POST /v1/labels to a stored key with the label scope and
    hands stored labels to the label_publisher it is given."""
    issued = await ApiKeyStore(stored).create("chargebacks", {Scope.LABEL}, created_by="test")
    publisher = RecordingPublisher()
    settings = Settings(database_url=database_url, redis_url=redis_url)
    app = build_gateway(settings, UnusedScorer(), label_publisher=publisher)
    async with app.lifespan(), _client(app) as test_client:
        response = await test_client.post(
            "/v1/labels",
            json={"items": [item("t3", "legit")]},
            headers={"Authorization": f"Bearer {issued.secret}"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["status"] == "recorded"
    assert [[label.transaction_id for label in batch] for batch in publisher.published] == [["t3"]]
