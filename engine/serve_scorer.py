"""The scorer the gateway replica uses: the pipeline over Ray Serve deployment handles.

Each stage client turns one pipeline call into one handle call (``handle.method.remote(...)``),
so a micro-batch costs one Ray hop per stage. Nothing implicit crosses the hop: context variables
do not, so every id a stage needs travels inside the transactions themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.clock import Clock
from core.models import Decision, FeatureVector, Transaction
from engine.contracts import (
    DecisionObserver,
    DecisionSink,
    EnsembleBatch,
    RuleBatch,
    StageFailure,
)
from engine.pipeline import PipelineOptions, ScoringPipeline


class HandleFeatureClient:
    """The ``features`` deployment's ``compute`` through its handle."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def compute(self, txns: Sequence[Transaction]) -> list[FeatureVector | StageFailure]:
        """One remote call for the whole batch."""
        result: list[FeatureVector | StageFailure] = await self._handle.compute.remote(list(txns))
        return result


class HandleRuleClient:
    """The ``rules`` deployment through its handle."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def evaluate(
        self, txns: Sequence[Transaction], vectors: Sequence[FeatureVector]
    ) -> RuleBatch:
        """One remote call for the whole batch."""
        result: RuleBatch = await self._handle.evaluate.remote(list(txns), list(vectors))
        return result

    async def version(self) -> str:
        """The rule-set version the replica that answers is using."""
        result: str = await self._handle.version.remote()
        return result


class HandleEnsembleClient:
    """The ``ensemble`` deployment through its handle."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def score(self, vectors: Sequence[FeatureVector]) -> EnsembleBatch:
        """One remote call for the whole batch."""
        result: EnsembleBatch = await self._handle.score.remote(list(vectors))
        return result

    async def version(self) -> str:
        """The model version the replica that answers is using."""
        result: str = await self._handle.version.remote()
        return result


class ServeScorer:
    """A :class:`~engine.contracts.Scorer` that calls the three deployments through handles."""

    def __init__(
        self,
        *,
        features: Any,
        rules: Any,
        ensemble: Any,
        sink: DecisionSink | None,
        clock: Clock | None = None,
        options: PipelineOptions | None = None,
        observer: DecisionObserver | None = None,
    ) -> None:
        self._pipeline = ScoringPipeline(
            features=HandleFeatureClient(features),
            rules=HandleRuleClient(rules),
            ensemble=HandleEnsembleClient(ensemble),
            sink=sink,
            clock=clock,
            options=options,
            observer=observer,
        )

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """One decision per transaction, each already on the decision stream."""
        return await self._pipeline.score(txns)

    async def ready(self) -> Mapping[str, str]:
        """The rule-set and model versions now scoring."""
        return await self._pipeline.ready()

    async def aclose(self) -> None:
        """Finish batches in flight."""
        await self._pipeline.aclose()
