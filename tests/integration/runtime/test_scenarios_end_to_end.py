"""The engine's promises end to end, through the real Serve graph, Redis and PostgreSQL:
a card-testing burst is stopped within the burst, decisions and alerts reach PostgreSQL,
and rule files are hot-reloaded (an invalid edit is rejected while scoring continues).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from client.gateway import GatewayClient, GatewayReply
from config.settings import Settings
from storage.writer import StreamWriter

pytestmark = pytest.mark.slow

RELOAD_DEADLINE_S = 15.0
"""Generous bound for the functional check; the measured pick-up time is printed."""

PROBE_RULE = """\
rules:
  - id: hot-reload-probe
    description: Added while the engine runs, to prove hot reload.
    when: txn.amount == 7.77
    action: block
    score: 0.05
"""
BROKEN_RULE = """\
rules:
  - id: hot-reload-probe
    description: An invalid edit that must be rejected.
    when: txn.amount == 7.77 && features.no_such_feature > 1.0
    action: block
    score: 0.05
"""


def _payload(transaction_id: str, account: str, amount: str, at: datetime) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": account,
        "amount": amount,
        "currency": "EUR",
        "timestamp": at.isoformat(),
        "merchant_id": f"mrc-{transaction_id[-1]}",
        "merchant_category": "5999",
        "country": "FR",
        "channel": "ecommerce",
        "device_id": f"dev-{account}",
    }


async def _score(client: GatewayClient, payload: dict[str, Any]) -> dict[str, Any]:
    reply = await client.score(payload)
    assert isinstance(reply, GatewayReply), reply
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.body
    return body


async def test_card_testing_burst_is_stopped_within_the_burst(
    gateway_url: str, redis_client: Redis, db_engine: AsyncEngine, engine_settings: Settings
) -> None:
    """Tiny payments seconds apart are blocked from the fifth one on; all land in PostgreSQL."""
    start = datetime.now(UTC) - timedelta(seconds=30)
    decisions = []
    async with GatewayClient(gateway_url) as client:
        for i in range(8):
            payload = _payload(f"burst-{i}", "acct-burst", "1.00", start + timedelta(seconds=2 * i))
            decisions.append(await _score(client, payload))
    outcomes = [d["outcome"] for d in decisions]
    assert all(outcome == "block" for outcome in outcomes[4:]), outcomes
    fifth_rules = {r["rule_id"]: r["outcome"] for r in decisions[4]["rule_results"]}
    assert fifth_rules["card-testing-burst"] == "hit"
    assert decisions[4]["reasons"][0]["code"] == "card-testing-burst"

    writer = StreamWriter(redis_client, db_engine)
    await writer.drain()
    async with db_engine.connect() as connection:
        stored = (
            await connection.execute(
                text(
                    "SELECT d.transaction_id, d.outcome, a.status FROM decisions d"
                    " LEFT JOIN alerts a USING (transaction_id)"
                    " WHERE d.transaction_id LIKE 'burst-%' ORDER BY d.transaction_id"
                )
            )
        ).all()
    assert [row.outcome for row in stored] == outcomes
    assert all(row.status == "open" for row in stored if row.outcome != "allow")
    assert all(row.status is None for row in stored if row.outcome == "allow")


async def _wait_for_probe(
    client: GatewayClient, prefix: str, *, present: bool
) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        at = datetime.now(UTC)
        decision = await _score(client, _payload(f"{prefix}-{attempt}", "acct-reload", "7.77", at))
        ids = {r["rule_id"] for r in decision["rule_results"]}
        elapsed = time.monotonic() - started
        if ("hot-reload-probe" in ids) == present:
            return decision, elapsed
        assert elapsed < RELOAD_DEADLINE_S, f"rule set not reloaded after {elapsed:.1f} s"
        await asyncio.sleep(0.25)


async def test_rule_edits_are_hot_reloaded_and_invalid_edits_rejected(
    gateway_url: str, engine_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new rule file scores within seconds; a broken edit keeps the previous set scoring."""
    probe_file = Path(engine_settings.rules_dir) / "zz_hot_reload_probe.yaml"
    async with GatewayClient(gateway_url) as client:
        before, _ = await _wait_for_probe(client, "reload-a", present=False)
        probe_file.write_text(PROBE_RULE, encoding="utf-8")
        try:
            added, added_after_s = await _wait_for_probe(client, "reload-b", present=True)
            assert added["ruleset_version"] != before["ruleset_version"]
            assert added["outcome"] == "block"

            probe_file.write_text(BROKEN_RULE, encoding="utf-8")
            await asyncio.sleep(3.0)  # several poll intervals: the broken set must not load
            kept, _ = await _wait_for_probe(client, "reload-c", present=True)
            assert kept["ruleset_version"] == added["ruleset_version"]
            assert kept["degraded"] is False
        finally:
            probe_file.unlink(missing_ok=True)
        removed, _ = await _wait_for_probe(client, "reload-d", present=False)
        assert removed["ruleset_version"] == before["ruleset_version"]
    with capsys.disabled():
        print(f"\nrule file edit picked up after {added_after_s:.2f} s")  # noqa: T201
