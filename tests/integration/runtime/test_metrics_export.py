"""Prometheus metrics through the real Serve graph, scraped from Ray's metrics export port.

Ray's metrics agent serves what each process recorded a few seconds after it was recorded, so
every check polls the endpoint until the expected state appears (with a deadline) instead of
sleeping. Counters are cumulative for the whole test session; the test first waits until a probe
decision is visible (everything the gateway recorded before it is then exported too) and
compares against that baseline.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from client.gateway import GatewayClient, GatewayReply
from runtime.metrics import (
    DECISIONS,
    DEGRADABLE_STAGES,
    DEGRADED,
    MODEL_INFO,
    MODEL_SCORE,
    RULE_ERRORS,
    RULE_HITS,
    RULESET_INFO,
    SERVE_METRICS,
    STAGE_LATENCY,
    STAGE_LATENCY_KEYS,
    WRITER_BATCH_SIZE,
    WRITER_LAG,
    WRITER_ROWS,
    MetricSpec,
    WriterMetrics,
    ray_meters,
)
from storage.writer import StreamWriter, WriterConfig

pytestmark = pytest.mark.slow

SENT = 12
_DEADLINE_S = 90.0
_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class Scrape:
    """One scrape's samples: ``(name, labels, value)``."""

    samples: list[tuple[str, dict[str, str], float]]

    def values(self, name: str, **labels: str) -> list[float]:
        """Values of the samples called ``name`` whose labels include ``labels``."""
        want = labels.items()
        return [v for n, lab, v in self.samples if n == name and want <= lab.items()]

    def total(self, name: str, **labels: str) -> float:
        """Sum over every series (every process) of ``name`` matching ``labels``."""
        return sum(self.values(name, **labels))

    def label_values(self, name: str, label: str) -> set[str]:
        """Every value ``label`` takes on samples called ``name``."""
        return {lab[label] for n, lab, _ in self.samples if n == name and label in lab}

    def names(self) -> set[str]:
        """Every sample name."""
        return {n for n, _, _ in self.samples}


def _name(spec: MetricSpec, part: str = "") -> str:
    return spec.exported_name + (f"_{part}" if part else "")


async def _scrape(http: httpx.AsyncClient, url: str) -> Scrape:
    response = await http.get(url)
    response.raise_for_status()
    return Scrape(
        [
            (sample.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        ]
    )


async def _scrape_until(
    http: httpx.AsyncClient, url: str, ready: Callable[[Scrape], bool], what: str
) -> Scrape:
    """Scrape until ``ready`` holds (Ray exports with a delay); fail after the deadline."""
    deadline = time.monotonic() + _DEADLINE_S
    while True:
        scrape = await _scrape(http, url)
        if ready(scrape):
            return scrape
        if time.monotonic() > deadline:
            pytest.fail(f"the metrics endpoint never showed {what}")
        await asyncio.sleep(_POLL_S)


def _payload(transaction_id: str, index: int) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": f"acct-metrics-{index % 3}",
        "amount": f"{20 + 150 * index}.00",
        "currency": "EUR",
        "timestamp": "2026-01-05T10:00:00+00:00",
        "merchant_id": "mrc-metrics",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "ecommerce",
        "device_id": f"dev-metrics-{index % 2}",
        "ip_address": "192.0.2.9",
    }


async def _score(gateway: GatewayClient, payloads: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    replies = await asyncio.gather(*(gateway.score(p) for p in payloads))
    bodies = []
    for reply in replies:
        assert isinstance(reply, GatewayReply), reply
        assert reply.status == 200, reply.body
        bodies.append(reply.body)
    return bodies


async def test_scored_transactions_show_up_in_the_exported_metrics(
    gateway_url: str, metrics_url: str, redis_client: Redis, db_engine: AsyncEngine
) -> None:
    """Decisions, rules, scores, latencies, versions, writer and Serve metrics are all exported."""
    run = uuid.uuid4().hex[:8]
    decisions = _name(DECISIONS)
    async with httpx.AsyncClient(timeout=10.0) as http, GatewayClient(gateway_url) as gateway:
        before = await _scrape(http, metrics_url)
        await _score(gateway, [_payload(f"metrics-{run}-probe", 0)])
        baseline = await _scrape_until(
            http,
            metrics_url,
            lambda s: s.total(decisions) >= before.total(decisions) + 1,
            "the probe decision",
        )
        bodies = await _score(gateway, [_payload(f"metrics-{run}-{i}", i) for i in range(SENT)])
        after = await _scrape_until(
            http,
            metrics_url,
            lambda s: s.total(decisions) >= baseline.total(decisions) + SENT,
            f"{SENT} more decisions",
        )
        ready = await gateway.ready()

    assert after.total(decisions) - baseline.total(decisions) == SENT
    outcomes = Counter(str(body["outcome"]) for body in bodies)
    for outcome, count in outcomes.items():
        delta = after.total(decisions, outcome=outcome) - baseline.total(decisions, outcome=outcome)
        assert delta == count, outcome

    latency_count = _name(STAGE_LATENCY, "count")
    for stage in STAGE_LATENCY_KEYS:
        delta = after.total(latency_count, stage=stage) - baseline.total(latency_count, stage=stage)
        assert delta == SENT, stage
        assert after.total(_name(STAGE_LATENCY, "sum"), stage=stage) > 0.0, stage
        assert after.values(_name(STAGE_LATENCY, "bucket"), stage=stage, le="+Inf"), stage
    score_count = _name(MODEL_SCORE, "count")
    for model in {str(s["name"]) for s in bodies[0]["model_scores"]}:
        delta = after.total(score_count, model=model) - baseline.total(score_count, model=model)
        assert delta == SENT, model

    rule_ids = {str(r["rule_id"]) for r in bodies[0]["rule_results"]}
    assert rule_ids
    assert rule_ids <= after.label_values(_name(RULE_HITS), "rule_id")
    assert rule_ids <= after.label_values(_name(RULE_ERRORS), "rule_id")
    hits = Counter(
        str(r["rule_id"]) for body in bodies for r in body["rule_results"] if r["outcome"] == "hit"
    )
    for rule_id, count in hits.items():
        hit_name = _name(RULE_HITS)
        delta = after.total(hit_name, rule_id=rule_id) - baseline.total(hit_name, rule_id=rule_id)
        assert delta == count, rule_id
    assert set(DEGRADABLE_STAGES) <= after.label_values(_name(DEGRADED), "stage")

    assert isinstance(ready, GatewayReply), ready
    scoring = next(c for c in ready.body["components"] if c["name"] == "scoring")
    ruleset_version = str(bodies[0]["ruleset_version"])
    model_version = str(bodies[0]["model_version"])
    assert f"ruleset_version={ruleset_version}" in scoring["detail"]
    assert 1.0 in after.values(_name(RULESET_INFO), version=ruleset_version)
    model_info = after.values(_name(MODEL_INFO), version=model_version)
    assert model_info
    assert set(model_info) == {1.0}

    missing = [name for name in SERVE_METRICS if name not in after.names()]
    assert not missing, sorted(n for n in after.names() if n.startswith("ray_serve"))
    healthy = after.label_values("ray_serve_deployment_replica_healthy", "deployment")
    assert {"gateway", "features", "rules", "ensemble"} <= healthy


async def test_the_writer_in_a_ray_driver_exports_its_metrics(
    gateway_url: str, metrics_url: str, redis_client: Redis, db_engine: AsyncEngine
) -> None:
    """A writer in this process (a Ray driver, as in `vigil up`) exports batches, rows and lag."""
    run = uuid.uuid4().hex[:8]
    rows = _name(WRITER_ROWS)
    async with httpx.AsyncClient(timeout=10.0) as http, GatewayClient(gateway_url) as gateway:
        before = await _scrape(http, metrics_url)
        await _score(gateway, [_payload(f"writer-{run}-{i}", i) for i in range(SENT)])
        writer = StreamWriter(
            redis_client,
            db_engine,
            WriterConfig(consumer=f"metrics-{run}", block_ms=100),
            observer=WriterMetrics(ray_meters()),
        )
        report = await writer.drain()
        assert report.inserted.decisions >= SENT
        after = await _scrape_until(
            http,
            metrics_url,
            lambda s: (
                s.total(rows, table="decisions")
                >= before.total(rows, table="decisions") + report.inserted.decisions
            ),
            "the rows the writer inserted",
        )
    written = after.total(rows, table="decisions") - before.total(rows, table="decisions")
    assert written == report.inserted.decisions
    assert after.total(rows, table="transactions") >= report.inserted.transactions
    batches = after.total(_name(WRITER_BATCH_SIZE, "count"))
    assert batches >= 1
    assert after.total(_name(WRITER_BATCH_SIZE, "bucket"), le="+Inf") == batches
    assert after.total(_name(WRITER_BATCH_SIZE, "sum")) > 0.0  # Ray estimates it (docs/metrics.md)
    assert after.values(_name(WRITER_LAG)) == [0.0]  # drained: nothing left to read
