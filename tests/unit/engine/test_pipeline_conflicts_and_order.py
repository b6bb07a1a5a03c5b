"""The pipeline refuses an id the features stage recorded with another payload (409, nothing
streamed), and records a request's transactions in event-time order, one chunk at a time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.clock import ManualClock
from core.errors import ConflictError
from core.models import Channel, Decision, FeatureVector, ModelScore, Transaction
from core.payload import PayloadConflict, payload_digest
from core.records import DecisionRecord
from engine.batching import BatchingOptions
from engine.contracts import EnsembleBatch, EnsembleRow, RuleBatch, StageFailure, Thresholds
from engine.pipeline import PipelineOptions, ScoringPipeline

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
FeatureRow = FeatureVector | StageFailure | PayloadConflict


def _txn(n: int, amount: str = "10.00", *, ms: int = 0) -> Transaction:
    return Transaction(
        transaction_id=f"t-{n}",
        account_id="acc-1",
        amount=Decimal(amount),
        currency="EUR",
        timestamp=AT + timedelta(milliseconds=ms),
        merchant_id="m-1",
        merchant_category="5411",
        country="FR",
        channel=Channel.POS,
    )


class DigestFeatures:
    """Records each id's payload digest like the Lua script: the first payload wins, another
    one is a conflict. Features are the amount. Keeps every call's transactions."""

    def __init__(self, *, delay_s: float = 0.0, seed: int = 0) -> None:
        self.recorded: dict[str, bytes] = {}
        self.calls: list[list[Transaction]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.delay_s = delay_s
        self.random = random.Random(seed)
        self.before_answer: list[Transaction] = []

    async def compute(self, txns: Sequence[Transaction]) -> list[FeatureRow]:
        self.calls.append(list(txns))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(self.random.uniform(0, self.delay_s))
        self.in_flight -= 1
        rows: list[FeatureRow] = []
        for txn in txns:
            digest = self.recorded.setdefault(txn.transaction_id, payload_digest(txn))
            if digest != payload_digest(txn):
                rows.append(PayloadConflict(transaction_id=txn.transaction_id))
            else:
                rows.append(FeatureVector(values={"amount": float(txn.amount)}, spec_version="f"))
        return rows


class QuietRules:
    """No rule ever hits."""

    async def evaluate(
        self, txns: Sequence[Transaction], vectors: Sequence[FeatureVector]
    ) -> RuleBatch:
        return RuleBatch(version="rs-1", rows=[[] for _ in txns])

    async def version(self) -> str:
        return "rs-1"


class LowRisk:
    """Every row scores 0.1."""

    async def score(self, vectors: Sequence[FeatureVector]) -> EnsembleBatch:
        rows: list[EnsembleRow | StageFailure] = [
            EnsembleRow(risk=0.1, model_scores=[ModelScore(name="ensemble", score=0.1)])
            for _ in vectors
        ]
        return EnsembleBatch(version="m-1", thresholds=Thresholds(review=0.5, block=0.9), rows=rows)

    async def version(self) -> str:
        return "m-1"


class KeepingSink:
    """Keeps every appended record; ``recall`` answers from ``kept`` (first record per id)."""

    def __init__(self) -> None:
        self.appended: list[DecisionRecord] = []
        self.kept: dict[str, DecisionRecord] = {}
        self.recalls: list[list[str]] = []

    async def append(self, records: Sequence[DecisionRecord]) -> list[object]:
        self.appended += records
        for record in records:
            self.kept.setdefault(record.transaction.transaction_id, record)
        return [record.transaction.transaction_id for record in records]

    async def recall(self, transaction_ids: Sequence[str]) -> list[DecisionRecord | None]:
        self.recalls.append(list(transaction_ids))
        return [self.kept.get(t) for t in transaction_ids]


@pytest.fixture
async def pipelines() -> AsyncIterator[list[ScoringPipeline]]:
    """Pipelines appended here are closed after the test."""
    created: list[ScoringPipeline] = []
    yield created
    for pipeline in created:
        await pipeline.aclose()


def _pipeline(
    created: list[ScoringPipeline],
    features: DigestFeatures,
    sink: KeepingSink | None,
    batching: BatchingOptions | None = None,
) -> ScoringPipeline:
    pipeline = ScoringPipeline(
        features=features,
        rules=QuietRules(),
        ensemble=LowRisk(),
        sink=sink,
        clock=ManualClock(AT),
        options=PipelineOptions(batching=batching or BatchingOptions(max_wait_s=0.05)),
    )
    created.append(pipeline)
    return pipeline


async def test_concurrent_payloads_of_one_id_give_one_decision_and_409s(
    pipelines: list[ScoringPipeline],
) -> None:
    """Fifty requests in flight with one id and fifty amounts: the first recorded is decided on
    its own amount, every other one is a 409 (naming $.amount once the first payload is known),
    and only the winner is streamed."""
    sink = KeepingSink()
    pipeline = _pipeline(pipelines, DigestFeatures(), sink, BatchingOptions(max_batch_size=16))
    results = await asyncio.gather(
        *(pipeline.score([_txn(1, f"{10 + n}.00")]) for n in range(50)), return_exceptions=True
    )
    decided = [r[0] for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert (len(decided), len(refused)) == (1, 49)
    named = [[p.location for p in e.problems] for e in refused]
    assert all(n in (["$.amount"], ["$.transaction_id"]) for n in named)
    assert ["$.amount"] in named
    [record] = sink.appended
    assert record.decision == decided[0]
    assert record.decision.features == {"amount": float(record.transaction.amount)}


async def test_a_conflict_with_a_request_still_in_flight_names_the_id(
    pipelines: list[ScoringPipeline],
) -> None:
    """When the first payload is nowhere to be seen yet, the 409 names $.transaction_id."""
    features, sink = DigestFeatures(), KeepingSink()
    features.recorded["t-1"] = payload_digest(_txn(1, "99.00"))  # recorded, not yet streamed
    pipeline = _pipeline(pipelines, features, sink)
    with pytest.raises(ConflictError, match="different payload") as raised:
        await pipeline.score([_txn(1)])
    assert [p.location for p in raised.value.problems] == ["$.transaction_id"]
    assert sink.appended == []
    assert sink.recalls[-1] == ["t-1"]


async def test_a_conflict_with_a_decision_streamed_meanwhile_names_the_fields(
    pipelines: list[ScoringPipeline],
) -> None:
    """A first payload whose decision reached the sink after this batch's replay check is read
    back to name the differing fields."""
    first = _txn(1, "99.00")
    features, sink = DigestFeatures(), KeepingSink()
    features.recorded["t-1"] = payload_digest(first)
    pipeline = _pipeline(pipelines, features, sink)
    [decision] = await _pipeline(pipelines, DigestFeatures(), None).score([first])
    original = features.compute

    async def compute_then_stream_the_winner(txns: Sequence[Transaction]) -> list[FeatureRow]:
        rows = await original(txns)
        await sink.append([DecisionRecord(transaction=first, decision=decision, received_at=AT)])
        return rows

    features.compute = compute_then_stream_the_winner  # type: ignore[method-assign]
    with pytest.raises(ConflictError) as raised:
        await pipeline.score([_txn(1, "10.00")])
    assert [p.location for p in raised.value.problems] == ["$.amount"]
    assert [r.decision for r in sink.appended] == [decision]


async def test_a_request_is_recorded_in_event_time_order_one_chunk_at_a_time(
    pipelines: list[ScoringPipeline],
) -> None:
    """A 60-item request in random event-time order, with 4 micro-batches allowed in flight,
    reaches the features stage sorted by event time (ties in request order) in chunks of at most
    8 that never overlap; the answers come back in request order."""
    features = DigestFeatures(delay_s=0.01, seed=3)
    batching = BatchingOptions(max_batch_size=8, max_wait_s=0.001, max_in_flight=4)
    pipeline = _pipeline(pipelines, features, KeepingSink(), batching)
    times = random.Random(7).sample(range(40), 40) + [5] * 10 + [17] * 10
    txns = [_txn(n, ms=ms) for n, ms in enumerate(times)]
    decisions: list[Decision] = await pipeline.score(txns)
    assert [d.transaction_id for d in decisions] == [t.transaction_id for t in txns]
    recorded = [t.transaction_id for call in features.calls for t in call]
    expected = sorted(range(len(txns)), key=lambda n: (times[n], n))
    assert recorded == [f"t-{n}" for n in expected]
    assert max(len(call) for call in features.calls) == 8
    assert features.most_in_flight == 1
