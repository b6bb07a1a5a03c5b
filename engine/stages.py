"""The three scoring stages as plain local objects (no Ray).

The Serve deployments in :mod:`runtime.deployments` wrap exactly these, and
:class:`engine.inprocess.InProcessScorer` calls them directly, so both paths share one
implementation. Each stage works on a batch and answers per row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog

from config.fx import FxTable
from core.errors import VigilError
from core.labels import KnownLabel
from core.models import FeatureVector, RuleResult, Transaction
from core.payload import PayloadConflict
from engine.contracts import (
    EnsembleBatch,
    EnsembleRow,
    LabelRecorder,
    OnlineFeatureStore,
    RuleBatch,
    StageFailure,
    Thresholds,
)

_log = structlog.get_logger("vigil.engine")

FEATURES = "features"
RULES = "rules"
ENSEMBLE = "ensemble"

STAGE_METHODS: dict[str, frozenset[str]] = {
    FEATURES: frozenset({"compute", "record_labels"}),
    RULES: frozenset({"evaluate", "version"}),
    ENSEMBLE: frozenset({"score", "version"}),
}
"""The methods each stage answers for a remote caller (the pipeline's contract, see
:mod:`engine.contracts`)."""


class RuleSetLike(Protocol):
    """A loaded, compiled rule set (``rules.loader.RuleSet``)."""

    @property
    def version(self) -> str:
        """Content-hash version of the set."""
        ...

    def evaluate(self, txn: Transaction, features: FeatureVector) -> list[RuleResult]:
        """Every rule on one transaction; a failing rule is an ``error`` result, not a raise."""
        ...


class EnsembleModel(Protocol):
    """A loaded model artifact that scores feature vectors (see :mod:`engine.model`)."""

    @property
    def version(self) -> str:
        """The artifact's version."""
        ...

    @property
    def thresholds(self) -> Thresholds:
        """The ensemble score's review/block thresholds from the manifest."""
        ...

    def score_vectors(self, vectors: Sequence[FeatureVector]) -> list[EnsembleRow]:
        """One row per vector, in order (CPU-bound: call it off the event loop)."""
        ...

    def risks(self, vectors: Sequence[FeatureVector]) -> list[float]:
        """Only the ensemble risk per vector (a challenger's shadow score; CPU-bound)."""
        ...


class FeatureStage:
    """Features straight from the online store: one store call per batch (of transactions, or
    of known labels)."""

    def __init__(self, store: OnlineFeatureStore, fx: FxTable | None = None) -> None:
        self._store = store
        self._fx = fx
        """The store's FX table: a row in a currency without a rate fails alone, unrecorded."""

    async def compute(
        self, txns: Sequence[Transaction]
    ) -> list[FeatureVector | StageFailure | PayloadConflict]:
        """Record every transaction and return its features (or its conflict: an id recorded
        with another payload); a store error fails the batch. A transaction whose currency has
        no exchange rate (the gateway refuses those first) fails alone and is not recorded."""
        fx = self._fx
        refused = [] if fx is None else [not fx.has_rate(txn.currency) for txn in txns]
        kept = [txn for i, txn in enumerate(txns) if not (refused and refused[i])]
        vectors = await self._store.record_each(kept) if kept else []
        if len(vectors) != len(kept):
            raise RuntimeError(
                f"feature store returned {len(vectors)} vectors for {len(kept)} transactions"
            )
        if len(kept) == len(txns):
            return list(vectors)
        rows = iter(vectors)
        return [
            StageFailure(stage=FEATURES, message=f"currency {txn.currency} has no exchange rate")
            if refused[i]
            else next(rows)
            for i, txn in enumerate(txns)
        ]

    async def record_labels(self, labels: Sequence[KnownLabel]) -> int:
        """Tell the store about known labels in one round trip, so that the next transactions'
        label-aware features count them; the number of labels that changed something (a label
        recorded before changes nothing). A store error raises."""
        return await self._store.record_labels(list(labels))

    async def aclose(self) -> None:
        """Close the store's connections."""
        await self._store.aclose()


class RuleStage:
    """Evaluates whichever rule set ``current()`` returns at the start of each batch.

    ``refresh`` (when given, e.g. a rule-file watcher's ``poll``) loads edited rule files; the
    replica hosting the stage calls :meth:`refresh` on a timer, the in-process scorer on demand.
    """

    def __init__(
        self,
        current: Callable[[], RuleSetLike],
        refresh: Callable[[], object] | None = None,
    ) -> None:
        self._current = current
        self._refresh = refresh

    async def refresh(self) -> bool:
        """Load edited rule files (off the event loop); whether a new rule set was swapped in."""
        if self._refresh is None:
            return False
        return await asyncio.to_thread(self._refresh) is not None

    async def evaluate(
        self, txns: Sequence[Transaction], vectors: Sequence[FeatureVector]
    ) -> RuleBatch:
        """All rules on all rows with one rule set; a row that raises fails alone."""
        if len(txns) != len(vectors):
            raise ValueError(f"{len(txns)} transactions but {len(vectors)} feature vectors")
        rule_set = self._current()
        rows = [
            _evaluate_row(rule_set, txn, vector) for txn, vector in zip(txns, vectors, strict=True)
        ]
        return RuleBatch(version=rule_set.version, rows=rows)

    async def version(self) -> str:
        """The version of the rule set now scoring."""
        return self._current().version


def _evaluate_row(
    rule_set: RuleSetLike, txn: Transaction, vector: FeatureVector
) -> list[RuleResult] | StageFailure:
    try:
        return rule_set.evaluate(txn, vector)
    except (VigilError, ValueError, TypeError, KeyError) as exc:
        return StageFailure(stage=RULES, message=f"rules could not be evaluated: {exc}")


class EnsembleStage:
    """Scores with the champion model, and a challenger in shadow when one is set; CPU work runs
    off the event loop (``asyncio.to_thread``) by default.

    :meth:`use` swaps both models at once (one attribute assignment): a batch already scoring
    finishes with the models it started with, the next one uses the new pair, no request fails.
    A challenger that fails only loses its shadow scores for that batch, never the decision.
    """

    def __init__(
        self,
        model: EnsembleModel,
        *,
        challenger: EnsembleModel | None = None,
        offload: bool = True,
    ) -> None:
        self._models: tuple[EnsembleModel, EnsembleModel | None] = (model, challenger)
        self._offload = offload

    def use(self, model: EnsembleModel, challenger: EnsembleModel | None = None) -> None:
        """Score the next batches with ``model`` (and ``challenger`` in shadow)."""
        self._models = (model, challenger)

    @property
    def models(self) -> tuple[EnsembleModel, EnsembleModel | None]:
        """The champion and the challenger (or ``None``) now scoring."""
        return self._models

    async def score(self, vectors: Sequence[FeatureVector]) -> EnsembleBatch:
        """One ensemble row per vector; a model error fails the batch."""
        model, challenger = self._models
        batch = list(vectors)
        if self._offload:
            rows, shadow = await asyncio.to_thread(_score_both, model, challenger, batch)
        else:
            rows, shadow = _score_both(model, challenger, batch)
        if len(rows) != len(batch):
            raise RuntimeError(f"model returned {len(rows)} rows for {len(batch)} vectors")
        return EnsembleBatch(
            version=model.version,
            thresholds=model.thresholds,
            rows=list(rows),
            challenger_version=None if shadow is None or challenger is None else challenger.version,
            challenger_risks=shadow,
        )

    async def version(self) -> str:
        """The version of the model artifact now scoring."""
        return self._models[0].version


def _score_both(
    model: EnsembleModel, challenger: EnsembleModel | None, batch: list[FeatureVector]
) -> tuple[list[EnsembleRow], list[float] | None]:
    rows = model.score_vectors(batch)
    if challenger is None:
        return rows, None
    try:
        shadow = challenger.risks(batch)
    except Exception as exc:  # noqa: BLE001 - the challenger never fails a decision
        _log.warning("challenger_failed", version=challenger.version, error=repr(exc))
        return rows, None
    return rows, shadow if len(shadow) == len(batch) else None


class LabelsToFeatures:
    """Publishes known labels to the features stage (a ``serving.labels.LabelPublisher``).

    Repeats are no-ops in the store (a label event is recorded once), as the publisher's contract
    asks.
    """

    def __init__(self, features: LabelRecorder) -> None:
        self._features = features

    async def publish(self, labels: Sequence[KnownLabel]) -> None:
        """One ``record_labels`` call for the whole batch; raises if the store refused it."""
        if labels:
            await self._features.record_labels(list(labels))
