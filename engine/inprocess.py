"""The same scoring work without Ray: one process, the same stages, the same pipeline.

The baseline ``bench/bench_inprocess.py`` compares Serve against, and a fast path for tests and
tools that need real decisions without starting a cluster. Rules are evaluated on the event loop
(tens of microseconds per transaction), the model in a worker thread, exactly as the deployments
do. The rule set does not hot-reload here; call :meth:`InProcessScorer.reload_rules`.
"""

from __future__ import annotations

from typing import cast

from config.settings import Settings
from core.clock import Clock
from engine.components import StageOptions, open_stage
from engine.contracts import DecisionSink
from engine.pipeline import PipelineOptions, ScoringPipeline
from engine.stages import ENSEMBLE, FEATURES, RULES, EnsembleStage, FeatureStage, RuleStage


class InProcessScorer(ScoringPipeline):
    """The scoring pipeline with every stage in this process (a ``Scorer``)."""

    def __init__(
        self,
        *,
        features: FeatureStage,
        rules: RuleStage,
        ensemble: EnsembleStage,
        sink: DecisionSink | None,
        clock: Clock | None = None,
        options: PipelineOptions | None = None,
    ) -> None:
        super().__init__(
            features=features,
            rules=rules,
            ensemble=ensemble,
            sink=sink,
            clock=clock,
            options=options,
        )
        self._feature_stage = features
        self._rule_stage = rules

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        sink: DecisionSink | None,
        clock: Clock | None = None,
        options: PipelineOptions | None = None,
        stage_options: StageOptions | None = None,
    ) -> InProcessScorer:
        """Build every stage from ``settings`` (feature store on ``settings.redis_url``)."""
        return cls(
            features=cast(FeatureStage, await open_stage(FEATURES, settings, stage_options)),
            rules=cast(RuleStage, await open_stage(RULES, settings, stage_options)),
            ensemble=cast(EnsembleStage, await open_stage(ENSEMBLE, settings, stage_options)),
            sink=sink,
            clock=clock,
            options=options,
        )

    async def reload_rules(self) -> bool:
        """Load edited rule files now; whether a new rule set was swapped in."""
        return await self._rule_stage.refresh()

    async def aclose(self) -> None:
        """Finish batches in flight, then close the feature store."""
        await super().aclose()
        await self._feature_stage.aclose()
