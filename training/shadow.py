"""Champion vs challenger on labelled live traffic (pure; the rows come from ``storage.shadow``).

Both models are measured on the same transactions: ranking quality (average precision, ROC AUC)
and, at the **same alert volume** as the engine actually raised on them (the champion's review
and block alerts), the recall and precision each model would have had. Equal volume is what makes
the comparison fair for a fraud team: a challenger that only looks better by flagging more would
need more reviewers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from training.metrics import ranking_metrics


class ShadowRow(Protocol):
    """What :func:`compare` reads from each labelled row (``storage.shadow.ShadowOutcome``)."""

    @property
    def challenger_version(self) -> str: ...
    @property
    def champion_version(self) -> str: ...
    @property
    def champion_score(self) -> float | None: ...
    @property
    def challenger_score(self) -> float: ...
    @property
    def alerted(self) -> bool: ...
    @property
    def fraud(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ModelQuality:
    """One model's quality on the compared rows."""

    version: str
    average_precision: float | None
    roc_auc: float | None
    recall_at_volume: float | None
    precision_at_volume: float | None


@dataclass(frozen=True, slots=True)
class ShadowComparison:
    """Champion and challenger on the same labelled transactions."""

    rows: int
    frauds: int
    alerts: int
    """Review and block decisions the engine made on these rows: the volume both are held to."""
    champion: ModelQuality
    challenger: ModelQuality

    def lines(self) -> list[str]:
        """The comparison as text, one model per line."""

        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        head = (
            f"{self.rows:,} labelled transactions ({self.frauds:,} fraud), "
            f"{self.alerts:,} alerts raised"
        )
        out = [head]
        for role, model in (("champion", self.champion), ("challenger", self.challenger)):
            out.append(
                f"  {role:<10} {model.version}  AP {fmt(model.average_precision)}  "
                f"ROC AUC {fmt(model.roc_auc)}  at the same {self.alerts:,} alerts: "
                f"recall {fmt(model.recall_at_volume)}, precision {fmt(model.precision_at_volume)}"
            )
        return out


def compare(rows: Iterable[ShadowRow]) -> list[ShadowComparison]:
    """One comparison per (champion, challenger) pair; rows without a champion score (a
    degraded decision) are left out."""
    groups: dict[tuple[str, str], list[ShadowRow]] = defaultdict(list)
    for row in rows:
        if row.champion_score is not None:
            groups[(row.champion_version, row.challenger_version)].append(row)
    out = []
    for (champion, challenger), group in sorted(groups.items()):
        labels = np.array([r.fraud for r in group], dtype=np.int8)
        volume = sum(r.alerted for r in group)
        champion_scores = np.array([r.champion_score for r in group], dtype=np.float64)
        challenger_scores = np.array([r.challenger_score for r in group], dtype=np.float64)
        out.append(
            ShadowComparison(
                rows=len(group),
                frauds=int(labels.sum()),
                alerts=volume,
                champion=_quality(champion, labels, champion_scores, volume),
                challenger=_quality(challenger, labels, challenger_scores, volume),
            )
        )
    return out


def _quality(
    version: str, labels: NDArray[np.int8], scores: NDArray[np.float64], volume: int
) -> ModelQuality:
    auc, ap = ranking_metrics(labels, scores)
    frauds = int(labels.sum())
    recall = precision = None
    if volume > 0:
        top = np.argsort(-scores, kind="stable")[:volume]
        caught = int(labels[top].sum())
        precision = caught / volume
        recall = caught / frauds if frauds else None
    return ModelQuality(
        version=version,
        average_precision=ap,
        roc_auc=auc,
        recall_at_volume=recall,
        precision_at_volume=precision,
    )
