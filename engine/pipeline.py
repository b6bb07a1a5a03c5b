"""The scoring pipeline: micro-batch, features → (rules ‖ ensemble) → decide → stream.

One :class:`ScoringPipeline` serves every request of a process. Concurrent ``score`` calls are
collected into micro-batches (:mod:`engine.batching`); each batch makes exactly one call per hop:
one to the features stage, then the rules and ensemble calls are both started before either is
awaited, then :func:`engine.decision.decide` runs per row, and all decisions of the batch are
appended to the decision sink in one round trip before any caller gets its answer.

Replays first (:mod:`engine.replay`): ids the sink already holds a decision for get that
decision back (or a 409 if the payload differs) and skip every stage. Requests in flight at the
same time are settled by the features stage, which records the first payload of an id and
answers :class:`~core.payload.PayloadConflict` for any other: that row is a 409 too, and neither
its features nor a decision exist, so the stream only ever holds the first payload's decision.

Event-time order: ``score`` sorts a request's transactions by event time (ties in request order,
as the offline computation orders them) and hands them over in chunks of at most
``max_batch_size``, each chunk in one micro-batch and one chunk after the other, so a batch
request is recorded in the order the offline replay assumes even with several micro-batches in
flight. Answers come back in the request's order.

Failure policy, per row (:mod:`engine.degraded`): each stage has a deadline
(``PipelineOptions.timeout_of``) and a policy for when it fails or misses it. A row whose
stages failed is decided under the most severe of their policies (``fail_open``, ``review``,
``fail_closed``) and marked ``degraded``, with the failures as its first reasons, or fails with
:class:`DependencyUnavailableError` (``reject``). Defaults: features ``reject``, rules and
ensemble ``fail_open`` (decided from the other one).

The sink failed → :class:`DependencyUnavailableError` for the whole batch (a decision that is
not in the durable log is never returned). Retrying is safe: feature recording is idempotent
per ``transaction_id``.

Each stored decision is logged once as ``transaction_scored`` with its per-stage latency, and
handed to the optional :class:`~engine.contracts.DecisionObserver` (metrics, in ``runtime``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import structlog

from core.clock import Clock, SystemClock
from core.errors import ConflictError, DependencyUnavailableError
from core.models import Decision, FeatureVector, Outcome, Transaction
from core.payload import PayloadConflict
from core.records import DecisionRecord, ShadowScore
from engine.batching import BatchingOptions, MicroBatcher
from engine.contracts import (
    UNAVAILABLE_VERSION,
    DecisionObserver,
    DecisionSink,
    EnsembleBatch,
    EnsembleClient,
    FeatureClient,
    RuleBatch,
    RuleClient,
    StageFailure,
    Thresholds,
)
from engine.decision import DEFAULT_MAX_REASONS, decide
from engine.degraded import DegradedPolicies, DegradedPolicy
from engine.replay import recorded_conflict, replay_conflict
from engine.stages import ENSEMBLE, FEATURES, RULES
from features.durations import event_time_ms

_log = structlog.get_logger("vigil.engine")
_T = TypeVar("_T")
_R = TypeVar("_R")

DEFAULT_THRESHOLDS = Thresholds(review=0.5, block=0.9)
"""Used only while the model (which carries its own thresholds) cannot be reached."""


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """Tuning of one pipeline."""

    batching: BatchingOptions = field(default_factory=BatchingOptions)
    stage_timeout_s: float = 2.0
    stage_timeouts_s: Mapping[str, float] = field(default_factory=dict)
    """Per-stage deadlines (``features``, ``rules``, ``ensemble``, ``decision_stream``) that
    replace ``stage_timeout_s`` for that stage."""
    fallback_thresholds: Thresholds = DEFAULT_THRESHOLDS
    max_reasons: int = DEFAULT_MAX_REASONS
    degraded: DegradedPolicies = field(default_factory=DegradedPolicies)

    def timeout_of(self, stage: str) -> float:
        """The deadline of ``stage`` in seconds."""
        return self.stage_timeouts_s.get(stage, self.stage_timeout_s)


@dataclass(frozen=True, slots=True)
class _Pending:
    txn: Transaction
    received_at: datetime
    enqueued: float


class ScoringPipeline:
    """Turns transactions into decisions through three stages (a ``Scorer``)."""

    def __init__(
        self,
        *,
        features: FeatureClient,
        rules: RuleClient,
        ensemble: EnsembleClient,
        sink: DecisionSink | None,
        clock: Clock | None = None,
        options: PipelineOptions | None = None,
        observer: DecisionObserver | None = None,
    ) -> None:
        self._features = features
        self._observer = observer
        self._rules = rules
        self._ensemble = ensemble
        self._sink = sink
        self._clock = clock or SystemClock()
        self._options = options or PipelineOptions()
        self._batcher: MicroBatcher[_Pending, Decision] = MicroBatcher(
            self._process, self._options.batching
        )

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """One decision per transaction, in order, each already appended to the sink.

        Recorded in event-time order: sorted, then in chunks of at most ``max_batch_size``, each
        in one micro-batch, one after the other. Raises the error of the first failed
        transaction (in request order) once every chunk has finished.
        """
        pending = self._pending(txns)
        order = sorted(range(len(pending)), key=lambda i: event_time_ms(pending[i].txn.timestamp))
        size = self._batcher.options.max_batch_size
        outcomes: dict[int, Decision | Exception] = {}
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            answers = await self._batcher.submit_group([pending[i] for i in chunk])
            outcomes.update(zip(chunk, answers, strict=True))
        decisions: list[Decision] = []
        for index in range(len(pending)):
            outcome = outcomes[index]
            if isinstance(outcome, Exception):
                raise outcome
            decisions.append(outcome)
        return decisions

    async def ready(self) -> Mapping[str, str]:
        """The rule-set and model versions now scoring; raises if either stage cannot answer."""
        rules_call = asyncio.create_task(self._bounded(RULES, self._rules.version()))
        model_call = asyncio.create_task(self._bounded(ENSEMBLE, self._ensemble.version()))
        ruleset, model = await rules_call, await model_call
        failures = [f.message for f in (ruleset, model) if isinstance(f, StageFailure)]
        if failures:
            raise DependencyUnavailableError("; ".join(failures))
        assert isinstance(ruleset, str)  # noqa: S101 - narrowed by the failure check above
        assert isinstance(model, str)  # noqa: S101
        return {"ruleset_version": ruleset, "model_version": model}

    async def aclose(self) -> None:
        """Finish the batches in flight and stop collecting."""
        await self._batcher.aclose()

    async def score_batch(self, txns: Sequence[Transaction]) -> list[Decision | Exception]:
        """Score one batch now, without collecting: one call per hop (for benchmarks)."""
        return await self._process(self._pending(txns))

    def _pending(self, txns: Sequence[Transaction]) -> list[_Pending]:
        received_at, enqueued = self._clock.now(), time.perf_counter()
        return [_Pending(txn, received_at, enqueued) for txn in txns]

    async def _process(self, batch: list[_Pending]) -> list[Decision | Exception]:
        replies = await self._replays(batch)
        fresh = [i for i in range(len(batch)) if i not in replies]
        if fresh:
            scored = await self._score_fresh([batch[i] for i in fresh])
            replies.update(zip(fresh, scored, strict=True))
        return [replies[i] for i in range(len(batch))]

    async def _replays(self, batch: Sequence[_Pending]) -> dict[int, Decision | Exception]:
        """Rows whose id was decided before: the stored decision, or a conflict."""
        if self._sink is None:
            return {}
        ids = [item.txn.transaction_id for item in batch]
        recalled = await self._bounded("decision_stream", self._sink.recall(ids))
        if isinstance(recalled, StageFailure) or len(recalled) != len(batch):
            return {}  # scored as new: features are recorded once and the writer stores once
        replies: dict[int, Decision | Exception] = {}
        for index, (item, stored) in enumerate(zip(batch, recalled, strict=True)):
            if stored is not None:
                conflict = replay_conflict(stored.transaction, item.txn)
                replies[index] = conflict or stored.decision
                _log.info(
                    "transaction_replayed",
                    transaction_id=item.txn.transaction_id,
                    conflict=conflict is not None,
                )
        return replies

    async def _score_fresh(self, batch: list[_Pending]) -> list[Decision | Exception]:
        started = time.perf_counter()
        txns = [p.txn for p in batch]
        computed: list[FeatureVector | PayloadConflict | StageFailure] = _rows_of(
            await self._bounded(FEATURES, self._features.compute(txns)), len(batch), FEATURES
        )
        features_ms = _ms_since(started)
        conflicts_call = (
            asyncio.create_task(self._conflicts(batch, computed))
            if any(isinstance(row, PayloadConflict) for row in computed)
            else None
        )
        ok = [i for i, v in enumerate(computed) if isinstance(v, FeatureVector)]
        vectors = [v for v in computed if isinstance(v, FeatureVector)]
        ok_txns = [txns[i] for i in ok]
        decided: list[Decision | Exception] = []
        shadows: dict[str, ShadowScore] = {}
        if ok:
            rules_call = asyncio.create_task(
                self._timed(RULES, self._rules.evaluate(ok_txns, vectors))
            )
            ensemble_call = asyncio.create_task(
                self._timed(ENSEMBLE, self._ensemble.score(vectors))
            )
            rules_out, rules_ms = await rules_call
            ensemble_out, ensemble_ms = await ensemble_call
            if isinstance(ensemble_out, EnsembleBatch):
                shadows = _shadow_scores(ok_txns, ensemble_out)
            decided = self._decide_rows(
                pending=[batch[i] for i in ok],
                vectors=vectors,
                rules_out=rules_out,
                ensemble_out=ensemble_out,
                stage_ms={"features": features_ms, "rules": rules_ms, "ensemble": ensemble_ms},
                started=started,
            )
        merged: list[Decision | Exception | None] = [None] * len(batch)
        for index, result in zip(ok, decided, strict=True):
            merged[index] = result
        for index, row in enumerate(computed):
            if isinstance(row, StageFailure):
                merged[index] = self._without_features(batch[index], row, features_ms)
        if conflicts_call is not None:
            for index, conflict in (await conflicts_call).items():
                merged[index] = conflict
        return await self._append(batch, [r for r in merged if r is not None], shadows)

    async def _conflicts(
        self,
        batch: Sequence[_Pending],
        computed: Sequence[FeatureVector | PayloadConflict | StageFailure],
    ) -> dict[int, ConflictError]:
        """A 409 for each row whose id the features store recorded with another payload.

        The differing fields are named when the first payload is known: a row of this batch
        that got features for the same id, or the decision kept for replays (one recall, only
        when there is a conflict); otherwise the first request is still in flight.
        """
        losers = [i for i, row in enumerate(computed) if isinstance(row, PayloadConflict)]
        first: dict[str, Transaction] = {}
        for item, row in zip(batch, computed, strict=True):
            if isinstance(row, FeatureVector):
                first.setdefault(item.txn.transaction_id, item.txn)
        unknown = sorted({batch[i].txn.transaction_id for i in losers} - first.keys())
        if unknown and self._sink is not None:
            recalled = await self._bounded("decision_stream", self._sink.recall(unknown))
            if not isinstance(recalled, StageFailure):
                for record in recalled:
                    if record is not None:
                        first.setdefault(record.transaction.transaction_id, record.transaction)
        conflicts: dict[int, ConflictError] = {}
        for index in losers:
            txn = batch[index].txn
            conflicts[index] = recorded_conflict(txn, first.get(txn.transaction_id))
            _log.info(
                "transaction_replayed",
                transaction_id=txn.transaction_id,
                conflict=True,
                concurrent=True,
            )
        return conflicts

    def _without_features(
        self, item: _Pending, failure: StageFailure, features_ms: float
    ) -> Decision | Exception:
        """A row the features stage failed for, under the features policy."""
        policy = self._options.degraded.features
        if policy is DegradedPolicy.REJECT:
            return DependencyUnavailableError(failure.message)
        return decide(
            transaction_id=item.txn.transaction_id,
            rule_results=None,
            ensemble=None,
            thresholds=self._options.fallback_thresholds,
            ruleset_version=UNAVAILABLE_VERSION,
            model_version=UNAVAILABLE_VERSION,
            decided_at=self._clock.now(),
            failures=[failure],
            floor=policy.floor,
            latency_ms={"features": features_ms, "total": _ms_since(item.enqueued)},
            max_reasons=self._options.max_reasons,
        )

    def _decide_rows(
        self,
        *,
        pending: Sequence[_Pending],
        vectors: Sequence[FeatureVector],
        rules_out: RuleBatch | StageFailure,
        ensemble_out: EnsembleBatch | StageFailure,
        stage_ms: Mapping[str, float],
        started: float,
    ) -> list[Decision | Exception]:
        rule_rows = _rows_of(
            rules_out.rows if isinstance(rules_out, RuleBatch) else rules_out, len(pending), RULES
        )
        model_rows = _rows_of(
            ensemble_out.rows if isinstance(ensemble_out, EnsembleBatch) else ensemble_out,
            len(pending),
            ENSEMBLE,
        )
        ruleset_version = (
            rules_out.version if isinstance(rules_out, RuleBatch) else UNAVAILABLE_VERSION
        )
        if isinstance(ensemble_out, EnsembleBatch):
            model_version, thresholds = ensemble_out.version, ensemble_out.thresholds
        else:
            model_version, thresholds = UNAVAILABLE_VERSION, self._options.fallback_thresholds
        decided_at = self._clock.now()
        out: list[Decision | Exception] = []
        for item, vector, rule_row, model_row in zip(
            pending, vectors, rule_rows, model_rows, strict=True
        ):
            failures = [r for r in (rule_row, model_row) if isinstance(r, StageFailure)]
            policy = self._options.degraded.combined(f.stage for f in failures)
            if policy is DegradedPolicy.REJECT:
                out.append(DependencyUnavailableError("; ".join(f.message for f in failures)))
                continue
            decide_started = time.perf_counter()
            latency = {
                "queue": (started - item.enqueued) * 1000.0,
                **stage_ms,
            }
            decision = decide(
                transaction_id=item.txn.transaction_id,
                rule_results=None if isinstance(rule_row, StageFailure) else rule_row,
                ensemble=None if isinstance(model_row, StageFailure) else model_row,
                thresholds=thresholds,
                ruleset_version=ruleset_version,
                model_version=model_version,
                decided_at=decided_at,
                failures=failures,
                floor=policy.floor if failures else Outcome.ALLOW,
                latency_ms={
                    **latency,
                    "decide": _ms_since(decide_started),
                    "total": _ms_since(item.enqueued),
                },
                features=vector.values,
                max_reasons=self._options.max_reasons,
            )
            out.append(decision)
        return out

    async def _append(
        self,
        batch: Sequence[_Pending],
        results: list[Decision | Exception],
        shadows: Mapping[str, ShadowScore] | None = None,
    ) -> list[Decision | Exception]:
        if self._sink is None:
            return results
        shadows = shadows or {}
        scored = [
            DecisionRecord(
                transaction=item.txn,
                decision=result,
                received_at=item.received_at,
                shadow=shadows.get(item.txn.transaction_id),
            )
            for item, result in zip(batch, results, strict=True)
            if isinstance(result, Decision)
        ]
        if not scored:
            return results
        stored = await self._bounded("decision_stream", self._sink.append(scored))
        if isinstance(stored, StageFailure):
            error = DependencyUnavailableError(stored.message)
            return [error if isinstance(r, Decision) else r for r in results]
        refused = {
            record.transaction.transaction_id: answer
            for record, answer in zip(scored, stored, strict=True)
            if isinstance(answer, Exception)
        }
        if refused:
            scored = [r for r in scored if r.transaction.transaction_id not in refused]
            results = [
                refused.get(item.txn.transaction_id, result)
                if isinstance(result, Decision)
                else result
                for item, result in zip(batch, results, strict=True)
            ]
        for record in scored:
            _log_decision(record)
        if self._observer is not None:
            try:
                self._observer.observe([record.decision for record in scored])
            except Exception as exc:  # noqa: BLE001 - metrics never fail a stored decision
                _log.warning("decision_metrics_failed", error=_describe(exc))
        return results

    async def _timed(self, stage: str, call: Awaitable[_T]) -> tuple[_T | StageFailure, float]:
        started = time.perf_counter()
        result = await self._bounded(stage, call)
        return result, _ms_since(started)

    async def _bounded(self, stage: str, call: Awaitable[_T]) -> _T | StageFailure:
        """Await ``call`` within the stage timeout; any error becomes a :class:`StageFailure`."""
        timeout_s = self._options.timeout_of(stage)
        try:
            async with asyncio.timeout(timeout_s):
                return await call
        except TimeoutError:
            return StageFailure(
                stage=stage, message=f"{stage} did not answer within {timeout_s:g} s"
            )
        except Exception as exc:  # noqa: BLE001 - a failing stage degrades the decision
            return StageFailure(stage=stage, message=f"{stage} failed: {_describe(exc)}")


def _rows_of(
    rows: Sequence[_R] | StageFailure, expected: int, stage: str
) -> list[_R | StageFailure]:
    """A stage's rows, or its failure repeated for every row (also when the count is wrong)."""
    if isinstance(rows, StageFailure):
        return [rows] * expected
    if len(rows) != expected:
        failure = StageFailure(
            stage=stage, message=f"{stage} returned {len(rows)} rows for {expected}"
        )
        return [failure] * expected
    return list(rows)


def _shadow_scores(txns: Sequence[Transaction], batch: EnsembleBatch) -> dict[str, ShadowScore]:
    """The challenger's score per transaction id, when the batch carries one."""
    version, risks = batch.challenger_version, batch.challenger_risks
    if version is None or risks is None or len(risks) != len(txns):
        return {}
    return {
        txn.transaction_id: ShadowScore(model_version=version, risk=risk)
        for txn, risk in zip(txns, risks, strict=True)
    }


def _log_decision(record: DecisionRecord) -> None:
    """The canonical ``transaction_scored`` event; ids are explicit (no context crosses Ray)."""
    decision = record.decision
    _log.info(
        "transaction_scored",
        transaction_id=decision.transaction_id,
        account_id=record.transaction.account_id,
        outcome=decision.outcome.value,
        risk_score=round(decision.risk_score, 4),
        degraded=decision.degraded,
        ruleset_version=decision.ruleset_version,
        model_version=decision.model_version,
        latency_ms=decision.latency_ms,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
