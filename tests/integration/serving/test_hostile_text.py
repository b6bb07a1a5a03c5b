"""Client text that PostgreSQL cannot store (U+0000) is a 400 naming the field, never a 500.

The gateway runs on the real repository: without the checks these requests reach PostgreSQL,
whose ``text`` type refuses the NUL character.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import ManualClock
from core.models import Decision, Outcome, Transaction
from core.records import DecisionRecord
from serving.app import create_app
from serving.auth import Principal, Scope, StaticApiKeyVerifier
from serving.readiness import ProbeReadiness
from serving.settings import GatewaySettings
from storage.persist import insert_records
from storage.repository import Repository

MakeRecord = Callable[..., DecisionRecord]
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
ADMIN_KEY = "admin-key-0123456789"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
NUL_MESSAGE = "must not contain the NUL character (U+0000)"


class UnusedScorer:
    """These tests never score; a call would be a bug."""

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """Fail loudly."""
        raise AssertionError("the scorer is not part of these tests")

    async def ready(self) -> Mapping[str, str]:
        """No versions."""
        return {}


@pytest.fixture
async def client(
    db_engine: AsyncEngine, make_record: MakeRecord
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway on the real repository holding one blocked transaction t1 (alert 1)."""
    async with db_engine.begin() as connection:
        await insert_records(connection, [make_record(1, Outcome.BLOCK)])
    app = create_app(
        settings=GatewaySettings(),
        scorer=UnusedScorer(),
        records=Repository(db_engine, clock=ManualClock(NOW)),
        readiness=ProbeReadiness({}),
        clock=ManualClock(NOW),
        verifier=StaticApiKeyVerifier(
            {ADMIN_KEY: Principal(key_id="k1", subject="ana", scopes=frozenset({Scope.ADMIN}))}
        ),
    )
    # Litestar types ASGI messages as TypedDicts, httpx as plain mappings: the same protocol.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://vigil.test") as test_client:
        yield test_client


def located(response: httpx.Response) -> dict[str, str]:
    """The response's field problems, message by location."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["location"]: e["message"] for e in response.json()["errors"]}


async def test_a_label_note_with_nul_is_400_naming_the_note(client: httpx.AsyncClient) -> None:
    """POST /v1/alerts/{id}/label with U+0000 in the note is a 400 at $.note; the alert is kept."""
    body = {"label": "fraud", "note": "card \u0000 stolen"}
    response = await client.post("/v1/alerts/1/label", json=body, headers=HEADERS)
    assert located(response) == {"$.note": NUL_MESSAGE}
    fine = await client.post("/v1/alerts/1/label", json={"label": "fraud"}, headers=HEADERS)
    assert fine.status_code == 200, fine.text


async def test_a_transaction_id_with_nul_in_the_path_is_400(client: httpx.AsyncClient) -> None:
    """GET /v1/transactions/{id} with %00 in the id is a 400 naming the path parameter."""
    response = await client.get("/v1/transactions/t1%00", headers=HEADERS)
    assert located(response) == {"path.transaction_id": NUL_MESSAGE}


async def test_alert_filters_with_nul_are_400(client: httpx.AsyncClient) -> None:
    """GET /v1/alerts with %00 in the account or rule filter names each parameter."""
    response = await client.get(
        "/v1/alerts", params={"account_id": "acct\x00", "rule_id": "\x00r"}, headers=HEADERS
    )
    assert located(response) == {"query.account_id": NUL_MESSAGE, "query.rule_id": NUL_MESSAGE}
