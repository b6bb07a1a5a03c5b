"""The three scoring stages as plain local objects (no Ray).

The Serve deployments in :mod:`runtime.deployments` wrap exactly these, and
:class:`engine.inprocess.InProcessScorer` calls them directly, so both paths share one
implementation. Each stage works on a batch and answers per row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

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


class FeatureStage:
    """Features straight from the online store: one store call per batch (of transactions, or
    of known labels)."""

    def __init__(self, store: OnlineFeatureStore) -> None:
        self._store = store

    async def compute(
        self, txns: Sequence[Transaction]
    ) -> list[FeatureVector | StageFailure | PayloadConflict]:
        """Record every transaction and return its features (or its conflict: an id recorded
        with another payload); a store error fails the batch."""
        vectors = await self._store.record_each(list(txns))
        if len(vectors) != len(txns):
            raise RuntimeError(
                f"feature store returned {len(vectors)} vectors for {len(txns)} transactions"
            )
        return list(vectors)

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
    """Scores with a loaded model, off the event loop (``asyncio.to_thread``) by default."""

    def __init__(self, model: Callable[[], EnsembleModel], *, offload: bool = True) -> None:
        self._model = model
        self._offload = offload

    async def score(self, vectors: Sequence[FeatureVector]) -> EnsembleBatch:
        """One ensemble row per vector; a model error fails the batch."""
        model = self._model()
        batch = list(vectors)
        if self._offload:
            rows = await asyncio.to_thread(model.score_vectors, batch)
        else:
            rows = model.score_vectors(batch)
        if len(rows) != len(batch):
            raise RuntimeError(f"model returned {len(rows)} rows for {len(batch)} vectors")
        return EnsembleBatch(version=model.version, thresholds=model.thresholds, rows=list(rows))

    async def version(self) -> str:
        """The version of the model artifact now scoring."""
        return self._model().version


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
