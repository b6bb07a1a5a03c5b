"""The same scoring work without Ray: one process, the same stages, the same pipeline.

The baseline ``bench/bench_inprocess.py`` compares Serve against, and a fast path for tests and
tools that need real decisions without starting a cluster. Rules are evaluated on the event loop
(tens of microseconds per transaction), the model in a worker thread, exactly as the deployments
do. The rule set does not hot-reload here; call :meth:`InProcessScorer.reload_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from config.settings import Settings
from core.clock import Clock
from core.models import Decision, Transaction
from engine.components import (
    FEATURE_STORE_FACTORY,
    load_feature_set,
    load_model,
    open_feature_store,
    watch_rules,
)
from engine.contracts import DecisionSink, OnlineFeatureStore
from engine.model import DEFAULT_TOP_K, ArtifactEnsemble, ExplainPolicy
from engine.pipeline import PipelineOptions, ScoringPipeline
from engine.stages import LocalEnsembleClient, LocalFeatureClient, LocalRuleClient

if TYPE_CHECKING:
    from rules.reload import RuleSetWatcher


class InProcessScorer:
    """A :class:`~engine.contracts.Scorer` running every stage in this process."""

    def __init__(
        self,
        *,
        store: OnlineFeatureStore,
        watcher: RuleSetWatcher,
        model: ArtifactEnsemble,
        sink: DecisionSink | None,
        clock: Clock | None = None,
        options: PipelineOptions | None = None,
    ) -> None:
        self._watcher = watcher
        self._store = store
        self.model = model
        self.pipeline = ScoringPipeline(
            features=LocalFeatureClient(store),
            rules=LocalRuleClient(lambda: watcher.current),
            ensemble=LocalEnsembleClient(lambda: model),
            sink=sink,
            clock=clock,
            options=options,
        )

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        sink: DecisionSink | None,
        feature_store_factory: str = FEATURE_STORE_FACTORY,
        clock: Clock | None = None,
        options: PipelineOptions | None = None,
        top_k: int = DEFAULT_TOP_K,
        explain: ExplainPolicy = "risky",
    ) -> InProcessScorer:
        """Build every stage from ``settings`` (feature store on ``settings.redis_url``)."""
        feature_set = load_feature_set(settings)
        store = await open_feature_store(settings, feature_set, factory=feature_store_factory)
        return cls(
            store=store,
            watcher=watch_rules(settings, feature_set.names),
            model=load_model(settings, feature_set.names, top_k=top_k, explain=explain),
            sink=sink,
            clock=clock,
            options=options,
        )

    async def score(self, txns: Sequence[Transaction]) -> list[Decision]:
        """One decision per transaction (micro-batched with concurrent callers)."""
        return await self.pipeline.score(txns)

    async def ready(self) -> Mapping[str, str]:
        """The rule-set and model versions now scoring."""
        return await self.pipeline.ready()

    def reload_rules(self) -> bool:
        """Load edited rule files now; whether a new rule set was swapped in."""
        return self._watcher.poll() is not None

    async def aclose(self) -> None:
        """Finish batches in flight, then close the feature store."""
        await self.pipeline.aclose()
        await self._store.aclose()
