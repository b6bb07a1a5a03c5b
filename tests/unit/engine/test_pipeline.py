"""The scoring pipeline batches requests, calls each stage once per batch and degrades per row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest
from structlog.testing import capture_logs

from core.clock import ManualClock
from core.errors import ConflictError, DependencyUnavailableError, InvalidInputError
from core.models import (
    Channel,
    FeatureVector,
    ModelScore,
    Outcome,
    ReasonKind,
    RuleOutcome,
    RuleResult,
    Transaction,
)
from core.records import DecisionRecord
from engine.batching import BatchingOptions
from engine.contracts import (
    UNAVAILABLE_VERSION,
    EnsembleBatch,
    EnsembleRow,
    RuleBatch,
    StageFailure,
    Thresholds,
)
from engine.degraded import DegradedPolicies, DegradedPolicy
from engine.pipeline import PipelineOptions, ScoringPipeline

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _txn(n: int, amount: str = "10.00") -> Transaction:
    return Transaction(
        transaction_id=f"t-{n}",
        account_id="acc-1",
        amount=Decimal(amount),
        currency="EUR",
        timestamp=AT,
        merchant_id="m-1",
        merchant_category="5411",
        country="FR",
        channel=Channel.POS,
    )


class FakeFeatures:
    """Features are the amount; transaction ids in ``fail_ids`` fail alone."""

    def __init__(self, fail_ids: frozenset[str] = frozenset()) -> None:
        self.calls: list[int] = []
        self.fail_ids = fail_ids

    async def compute(self, txns: Sequence[Transaction]) -> list[FeatureVector | StageFailure]:
        self.calls.append(len(txns))
        return [
            StageFailure(stage="features", message=f"no features for {t.transaction_id}")
            if t.transaction_id in self.fail_ids
            else FeatureVector(values={"amount": float(t.amount)}, spec_version="fs-1")
            for t in txns
        ]


class FakeRules:
    """Blocks amounts above 1000; waits for ``started_together`` when given."""

    def __init__(self, *, broken: bool = False, partner: asyncio.Event | None = None) -> None:
        self.calls: list[int] = []
        self.broken = broken
        self.started = asyncio.Event()
        self.partner = partner

    async def evaluate(
        self, txns: Sequence[Transaction], vectors: Sequence[FeatureVector]
    ) -> RuleBatch:
        self.calls.append(len(txns))
        self.started.set()
        if self.partner is not None:
            await self.partner.wait()
        if self.broken:
            raise ConnectionError("rules replica died")
        rows: list[list[RuleResult] | StageFailure] = [
            [
                RuleResult(
                    rule_id="big_amount",
                    outcome=RuleOutcome.HIT
                    if (v.values["amount"] or 0) > 1000
                    else RuleOutcome.NO_HIT,
                    action=Outcome.BLOCK,
                    score=0.0,
                )
            ]
            for v in vectors
        ]
        return RuleBatch(version="rs-1", rows=rows)

    async def version(self) -> str:
        if self.broken:
            raise ConnectionError("rules replica died")
        return "rs-1"


class FakeEnsemble:
    """Risk is amount / 2000; can be broken."""

    def __init__(self, *, broken: bool = False, partner: asyncio.Event | None = None) -> None:
        self.calls: list[int] = []
        self.broken = broken
        self.started = asyncio.Event()
        self.partner = partner

    async def score(self, vectors: Sequence[FeatureVector]) -> EnsembleBatch:
        self.calls.append(len(vectors))
        self.started.set()
        if self.partner is not None:
            await self.partner.wait()
        if self.broken:
            raise TimeoutError
        rows: list[EnsembleRow | StageFailure] = []
        for v in vectors:
            risk = min(1.0, (v.values["amount"] or 0.0) / 2000.0)
            rows.append(
                EnsembleRow(risk=risk, model_scores=[ModelScore(name="ensemble", score=risk)])
            )
        return EnsembleBatch(version="m-1", thresholds=Thresholds(review=0.5, block=0.9), rows=rows)

    async def version(self) -> str:
        return "m-1"


class FakeSink:
    """Remembers appended decisions (the first record of each id, as Redis keeps it)."""

    def __init__(self, *, broken: bool = False, unencodable: frozenset[str] = frozenset()) -> None:
        self.appended: list[list[str]] = []
        self.kept: dict[str, DecisionRecord] = {}
        self.broken = broken
        self.unencodable = unencodable

    async def append(self, records: Sequence[DecisionRecord]) -> list[object]:
        if self.broken:
            raise ConnectionError("redis is down")
        stored = [r for r in records if r.transaction.transaction_id not in self.unencodable]
        self.appended.append([r.decision.transaction_id for r in stored])
        for record in stored:
            self.kept.setdefault(record.transaction.transaction_id, record)
        return [
            InvalidInputError(f"{r.transaction.transaction_id} cannot be recorded")
            if r.transaction.transaction_id in self.unencodable
            else f"entry-{r.transaction.transaction_id}"
            for r in records
        ]

    async def recall(self, transaction_ids: Sequence[str]) -> list[DecisionRecord | None]:
        if self.broken:
            raise ConnectionError("redis is down")
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
    *,
    features: FakeFeatures | None = None,
    rules: FakeRules | None = None,
    ensemble: FakeEnsemble | None = None,
    sink: FakeSink | None = None,
    degraded: DegradedPolicies | None = None,
) -> ScoringPipeline:
    pipeline = ScoringPipeline(
        features=features or FakeFeatures(),
        rules=rules or FakeRules(),
        ensemble=ensemble or FakeEnsemble(),
        sink=sink,
        clock=ManualClock(AT),
        options=PipelineOptions(
            batching=BatchingOptions(max_wait_s=0.05),
            stage_timeout_s=5.0,
            degraded=degraded or DegradedPolicies(),
        ),
    )
    created.append(pipeline)
    return pipeline


async def test_concurrent_requests_make_one_call_per_hop(pipelines: list[ScoringPipeline]) -> None:
    """Three concurrent requests reach each stage and the sink in one batch call."""
    features, rules, ensemble, sink = FakeFeatures(), FakeRules(), FakeEnsemble(), FakeSink()
    pipeline = _pipeline(pipelines, features=features, rules=rules, ensemble=ensemble, sink=sink)
    decisions = await asyncio.gather(
        *(pipeline.score([_txn(i, amount)]) for i, amount in enumerate(["10", "1500", "1900"]))
    )
    outcomes = [d[0].outcome for d in decisions]
    assert outcomes == [Outcome.ALLOW, Outcome.BLOCK, Outcome.BLOCK]
    assert (features.calls, rules.calls, ensemble.calls) == ([3], [3], [3])
    assert sink.appended == [["t-0", "t-1", "t-2"]]


async def test_rules_and_ensemble_run_at_the_same_time(pipelines: list[ScoringPipeline]) -> None:
    """Each of rules and ensemble waits for the other to start: only parallel calls finish."""
    both_started = asyncio.Event()
    rules = FakeRules(partner=both_started)
    ensemble = FakeEnsemble(partner=both_started)

    async def watch() -> None:
        await rules.started.wait()
        await ensemble.started.wait()
        both_started.set()

    watcher = asyncio.create_task(watch())
    pipeline = _pipeline(pipelines, rules=rules, ensemble=ensemble)
    async with asyncio.timeout(5):
        [decision] = await pipeline.score([_txn(1)])
    await watcher
    assert decision.degraded is False


async def test_decision_records_versions_latency_and_features(
    pipelines: list[ScoringPipeline],
) -> None:
    """Each decision carries the stage versions, per-stage latency and its feature values."""
    [decision] = await _pipeline(pipelines).score([_txn(1, "1200")])
    assert (decision.ruleset_version, decision.model_version) == ("rs-1", "m-1")
    assert {"queue", "features", "rules", "ensemble", "decide", "total"} <= set(decision.latency_ms)
    assert decision.features == {"amount": 1200.0}
    assert decision.decided_at == AT


async def test_a_failing_ensemble_degrades_to_rules(pipelines: list[ScoringPipeline]) -> None:
    """Without the models, rules still decide; the decision is degraded and says why first."""
    pipeline = _pipeline(pipelines, ensemble=FakeEnsemble(broken=True))
    [small, big] = await pipeline.score([_txn(1, "10"), _txn(2, "5000")])
    assert (small.outcome, big.outcome) == (Outcome.ALLOW, Outcome.BLOCK)
    assert small.degraded
    assert big.degraded
    assert small.model_version == UNAVAILABLE_VERSION
    assert small.reasons[0].kind is ReasonKind.DEGRADED
    assert small.reasons[0].code == "ensemble_unavailable"


async def test_a_failing_rules_stage_degrades_to_models(pipelines: list[ScoringPipeline]) -> None:
    """Without rules the model decides alone and the rule-set version is unavailable."""
    pipeline = _pipeline(pipelines, rules=FakeRules(broken=True))
    [decision] = await pipeline.score([_txn(1, "1900")])
    assert decision.outcome is Outcome.BLOCK
    assert decision.degraded is True
    assert decision.ruleset_version == UNAVAILABLE_VERSION
    assert "ConnectionError" in decision.reasons[0].message


async def test_rules_and_models_both_down_fail_open_by_default(
    pipelines: list[ScoringPipeline],
) -> None:
    """Under the default fail_open policies a row nothing evaluated is allowed, flagged degraded."""
    pipeline = _pipeline(
        pipelines, rules=FakeRules(broken=True), ensemble=FakeEnsemble(broken=True)
    )
    [decision] = await pipeline.score([_txn(1, "5000")])
    assert (decision.outcome, decision.degraded) == (Outcome.ALLOW, True)
    assert [r.code for r in decision.reasons] == ["rules_unavailable", "ensemble_unavailable"]


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [
        (DegradedPolicy.FAIL_OPEN, Outcome.ALLOW),
        (DegradedPolicy.REVIEW, Outcome.REVIEW),
        (DegradedPolicy.FAIL_CLOSED, Outcome.BLOCK),
    ],
)
async def test_the_ensemble_policy_sets_the_least_outcome(
    pipelines: list[ScoringPipeline], policy: DegradedPolicy, outcome: Outcome
) -> None:
    """With the models down a small payment gets the outcome the ensemble policy declares."""
    pipeline = _pipeline(
        pipelines, ensemble=FakeEnsemble(broken=True), degraded=DegradedPolicies(ensemble=policy)
    )
    [decision] = await pipeline.score([_txn(1, "10")])
    assert (decision.outcome, decision.degraded) == (outcome, True)


async def test_a_rejecting_policy_answers_unavailable(pipelines: list[ScoringPipeline]) -> None:
    """A stage whose policy is reject turns its failure into 503 instead of a decision."""
    pipeline = _pipeline(
        pipelines,
        rules=FakeRules(broken=True),
        degraded=DegradedPolicies(rules=DegradedPolicy.REJECT),
    )
    with pytest.raises(DependencyUnavailableError, match="rules failed"):
        await pipeline.score([_txn(1)])


async def test_features_down_under_review_policy_is_stored_for_review(
    pipelines: list[ScoringPipeline],
) -> None:
    """With the features policy review, a row without features is a stored degraded review."""
    sink = FakeSink()
    pipeline = _pipeline(
        pipelines,
        features=FakeFeatures(fail_ids=frozenset({"t-1"})),
        sink=sink,
        degraded=DegradedPolicies(features=DegradedPolicy.REVIEW),
    )
    [decision] = await pipeline.score([_txn(1)])
    assert (decision.outcome, decision.degraded) == (Outcome.REVIEW, True)
    assert decision.reasons[0].code == "features_unavailable"
    assert sink.appended == [["t-1"]]


async def test_a_retry_returns_the_stored_decision_without_any_stage(
    pipelines: list[ScoringPipeline],
) -> None:
    """The same id and payload sent again gets the first decision; no stage sees it twice."""
    features, sink = FakeFeatures(), FakeSink()
    pipeline = _pipeline(pipelines, features=features, sink=sink)
    [first] = await pipeline.score([_txn(1, "1500")])
    retried = msgspec.structs.replace(_txn(1, "1500"), timestamp=AT + timedelta(seconds=5))
    [again] = await pipeline.score([retried])
    assert again == first
    assert features.calls == [1]
    assert sink.appended == [["t-1"]]


async def test_a_reused_id_with_another_payload_is_a_conflict(
    pipelines: list[ScoringPipeline],
) -> None:
    """The same id with a different amount is refused, naming the field; nothing is scored."""
    features, sink = FakeFeatures(), FakeSink()
    pipeline = _pipeline(pipelines, features=features, sink=sink)
    await pipeline.score([_txn(1, "10")])
    with pytest.raises(ConflictError, match="different payload") as raised:
        await pipeline.score([_txn(1, "11")])
    assert [p.location for p in raised.value.problems] == ["$.amount"]
    assert features.calls == [1]


async def test_a_feature_failure_fails_only_its_request(pipelines: list[ScoringPipeline]) -> None:
    """A row the features stage could not compute fails its request; its batch-mates succeed."""
    pipeline = _pipeline(pipelines, features=FakeFeatures(fail_ids=frozenset({"t-2"})))
    results = await asyncio.gather(
        *(pipeline.score([_txn(i)]) for i in range(1, 4)), return_exceptions=True
    )
    assert isinstance(results[1], DependencyUnavailableError)
    assert "no features for t-2" in str(results[1])
    assert [r[0].transaction_id for r in (results[0], results[2]) if isinstance(r, list)] == [
        "t-1",
        "t-3",
    ]


async def test_decisions_are_not_returned_unless_stored(pipelines: list[ScoringPipeline]) -> None:
    """When the decision stream refuses the batch, its requests fail instead of returning."""
    pipeline = _pipeline(pipelines, sink=FakeSink(broken=True))
    with pytest.raises(DependencyUnavailableError, match="redis is down"):
        await pipeline.score([_txn(1)])


async def test_a_record_the_stream_refuses_fails_only_its_own_request(
    pipelines: list[ScoringPipeline],
) -> None:
    """One record that cannot be encoded fails its own caller (400); its batch-mates are stored."""
    sink = FakeSink(unencodable=frozenset({"t-2"}))
    pipeline = _pipeline(pipelines, sink=sink)
    answers = await asyncio.gather(
        *(pipeline.score([_txn(i)]) for i in (1, 2, 3)), return_exceptions=True
    )
    assert isinstance(answers[1], InvalidInputError)
    assert [a[0].transaction_id for a in answers if isinstance(a, list)] == ["t-1", "t-3"]
    assert sink.appended == [["t-1", "t-3"]]


async def test_ready_reports_versions_or_raises(pipelines: list[ScoringPipeline]) -> None:
    """ready() returns both versions, and raises when a stage cannot answer."""
    assert await _pipeline(pipelines).ready() == {"ruleset_version": "rs-1", "model_version": "m-1"}
    with pytest.raises(DependencyUnavailableError, match="rules"):
        await _pipeline(pipelines, rules=FakeRules(broken=True)).ready()


async def test_each_stored_decision_is_logged_once(pipelines: list[ScoringPipeline]) -> None:
    """One canonical transaction_scored event per stored decision, with ids and latency."""
    pipeline = _pipeline(pipelines, sink=FakeSink())
    with capture_logs() as events:
        await pipeline.score([_txn(1), _txn(2, "1500")])
    scored = [e for e in events if e["event"] == "transaction_scored"]
    assert [e["transaction_id"] for e in scored] == ["t-1", "t-2"]
    assert scored[1]["outcome"] == "block"
    assert scored[0]["account_id"] == "acc-1"
    assert "features" in scored[0]["latency_ms"]
