"""The ensemble stage: champion decides, a challenger is scored in shadow, swaps are atomic."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from structlog.testing import capture_logs

from core.models import FeatureVector, ModelScore
from engine.contracts import EnsembleRow, Thresholds
from engine.stages import EnsembleStage

VECTORS = [FeatureVector(values={"amount": float(i)}, spec_version="fs-1") for i in range(3)]


class Model:
    """Risk = amount * ``factor``; ``broken`` raises; ``gate`` holds scoring until set."""

    def __init__(
        self,
        version: str,
        factor: float,
        *,
        broken: bool = False,
        gate: threading.Event | None = None,
    ) -> None:
        self.version = version
        self.thresholds = Thresholds(review=0.5, block=0.9)
        self.factor = factor
        self.broken = broken
        self.gate = gate

    def score_vectors(self, vectors: Sequence[FeatureVector]) -> list[EnsembleRow]:
        """One row per vector."""
        if self.gate is not None:
            self.gate.wait(5)
        return [
            EnsembleRow(risk=r, model_scores=[ModelScore(name="ensemble", score=r)])
            for r in self.risks(vectors)
        ]

    def risks(self, vectors: Sequence[FeatureVector]) -> list[float]:
        """Risk only."""
        if self.broken:
            raise RuntimeError("challenger exploded")
        return [min(1.0, (v.values["amount"] or 0.0) * self.factor) for v in vectors]


async def test_a_challenger_is_scored_in_shadow_and_never_changes_the_rows() -> None:
    """The rows are the champion's; the challenger's risks ride along with its version."""
    stage = EnsembleStage(Model("champ", 0.1), challenger=Model("chall", 0.2))
    batch = await stage.score(VECTORS)
    assert [row.risk for row in batch.rows] == pytest.approx([0.0, 0.1, 0.2])  # type: ignore[union-attr]
    assert batch.version == "champ"
    assert batch.challenger_version == "chall"
    assert batch.challenger_risks == pytest.approx([0.0, 0.2, 0.4])


async def test_a_failing_challenger_loses_only_its_shadow_scores() -> None:
    """The champion's rows come back; no shadow scores for that batch."""
    stage = EnsembleStage(Model("champ", 0.1), challenger=Model("chall", 0.2, broken=True))
    with capture_logs() as logs:
        batch = await stage.score(VECTORS)
    assert len(batch.rows) == 3
    assert (batch.challenger_version, batch.challenger_risks) == (None, None)
    assert [(e["event"], e["version"]) for e in logs] == [("challenger_failed", "chall")]


async def test_use_swaps_for_the_next_batch_while_one_in_flight_finishes_with_the_old() -> None:
    """A batch scoring when the swap happens keeps its models; the next one gets the new."""
    gate = threading.Event()
    stage = EnsembleStage(Model("old", 0.1, gate=gate))
    in_flight = asyncio.create_task(stage.score(VECTORS))
    await asyncio.sleep(0.05)
    stage.use(Model("new", 0.3))
    gate.set()
    assert (await in_flight).version == "old"
    assert (await stage.score(VECTORS)).version == "new"
    assert await stage.version() == "new"
