"""Log events from the Serve replicas land in PostgreSQL's ``logs`` table (real Ray, PG, Redis)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from rules.loader import read_rule_sources

pytestmark = pytest.mark.slow

T = TypeVar("T")
DEADLINE_S = 90.0
STAGES = {"queue", "features", "rules", "ensemble", "decide", "total"}


async def eventually(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``check`` until it returns something truthy (the flushers write every second)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.5)


async def _rows(db_engine: AsyncEngine, event: str) -> list[Any]:
    async with db_engine.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT level, logger, transaction_id, payload FROM logs "
                "WHERE event = :event ORDER BY id"
            ),
            {"event": event},
        )
        return list(result)


def _payload(transaction_id: str) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": "acct-logs-1",
        "amount": "19.99",
        "currency": "EUR",
        "timestamp": "2026-01-06T10:00:00+00:00",
        "merchant_id": "mrc-logs",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "ecommerce",
    }


async def test_each_decision_leaves_a_transaction_scored_row(
    gateway_url: str, db_engine: AsyncEngine
) -> None:
    """Every scored transaction has one transaction_scored row (outcome, per-stage latency)
    and one request_completed row, written by the gateway replica's log flusher."""
    ids = [f"logs-t{i}" for i in range(5)]
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        replies = await asyncio.gather(
            *(client.post("/v1/transactions", json=_payload(i)) for i in ids)
        )
    assert [r.status_code for r in replies] == [200] * len(ids)
    outcomes = {r.json()["transaction_id"]: r.json()["outcome"] for r in replies}

    async def scored() -> list[Any] | None:
        rows = [r for r in await _rows(db_engine, "transaction_scored") if r.transaction_id in ids]
        return rows if len(rows) >= len(ids) else None

    rows = await eventually(scored, "a transaction_scored row per decision")
    assert sorted(r.transaction_id for r in rows) == ids
    for row in rows:
        assert row.level == "info"
        assert row.logger == "vigil.engine"
        assert row.payload["transaction_id"] == row.transaction_id
        assert row.payload["outcome"] == outcomes[row.transaction_id]
        assert set(row.payload["latency_ms"]) == STAGES
        assert all(value >= 0 for value in row.payload["latency_ms"].values())
        assert "http_path" not in row.payload  # no request's context leaks into the batch

    async def completed() -> list[Any] | None:
        rows = [r for r in await _rows(db_engine, "request_completed") if r.transaction_id in ids]
        return rows if len(rows) >= len(ids) else None

    requests = await eventually(completed, "a request_completed row per request")
    assert {r.payload["status"] for r in requests} == {200}
    assert {r.payload["http_path"] for r in requests} == {"/v1/transactions"}


async def test_a_rule_edit_is_logged_and_reported_by_every_replica(
    gateway_url: str, engine_settings: Settings, db_engine: AsyncEngine
) -> None:
    """A new rule file is picked up: ruleset_loaded reaches the logs table and the admin API
    reports the new version as active; removing the file brings the old version back."""
    rules_dir = engine_settings.rules_dir
    before = read_rule_sources(rules_dir).version
    canary = rules_dir / "zz_canary.yaml"
    canary.write_text(
        "description: Added by a test to prove hot reload.\n"
        "rules:\n"
        "  - id: test-canary\n"
        "    description: Never hits.\n"
        "    when: txn.amount > 1000000000.0\n"
        "    action: review\n"
        "    score: 0.1\n",
        encoding="utf-8",
    )
    try:
        after = read_rule_sources(rules_dir).version
        assert after != before

        async def loaded() -> list[Any] | None:
            rows = await _rows(db_engine, "ruleset_loaded")
            return [r for r in rows if r.payload.get("ruleset_version") == after] or None

        [row, *_] = await eventually(loaded, "a ruleset_loaded row for the edit")
        assert row.payload["previous_version"] == before
        assert row.payload["replica_id"]
        async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
            await eventually(lambda: _active_is(client, after), "the new version to be active")
    finally:
        canary.unlink()
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        await eventually(lambda: _active_is(client, before), "the old version to be back")


async def _active_is(client: httpx.AsyncClient, version: str) -> bool:
    response = await client.get("/v1/admin/rules")
    assert response.status_code == 200, response.text
    body = response.json()
    return bool(body["active"] == version and set(body["versions"].values()) == {version})
