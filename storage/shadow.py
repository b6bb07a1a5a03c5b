"""Champion vs challenger on labelled live traffic.

Every transaction a challenger scored in shadow has a ``shadow_scores`` row; its decision holds
the champion's ensemble score (``decisions.model_scores``, the ``ensemble`` entry) and outcome,
and its current label comes from ``labels`` (:mod:`storage.labels`: the event with the latest
``known_at``). :func:`shadow_outcomes` reads the labelled ones in one query; :func:`compare`
(pure) measures both models on the same rows: ranking quality (average precision, ROC AUC) and,
at the **same alert volume** as the engine actually raised on them (the champion's review and
block alerts), the recall and precision each would have had. Equal volume is what makes the
comparison fair for a fraud team: a challenger that only looks better by flagging more would
need more reviewers. ``vigil models compare`` and the web app's Models page show it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_OUTCOMES = text(
    """
    WITH current_labels AS (
        SELECT DISTINCT ON (transaction_id) transaction_id, label
        FROM labels
        ORDER BY transaction_id, known_at DESC, recorded_at DESC, id DESC
    )
    SELECT s.model_version AS challenger_version,
           d.model_version AS champion_version,
           (SELECT (m->>'score')::float8 FROM jsonb_array_elements(d.model_scores) AS m
             WHERE m->>'name' = 'ensemble' LIMIT 1) AS champion_score,
           s.risk AS challenger_score,
           d.outcome AS outcome,
           l.label = 'fraud' AS fraud
    FROM shadow_scores AS s
    JOIN decisions AS d ON d.transaction_id = s.transaction_id
    JOIN current_labels AS l ON l.transaction_id = s.transaction_id
    WHERE CAST(:since AS timestamptz) IS NULL OR s.decided_at >= CAST(:since AS timestamptz)
    ORDER BY s.model_version, d.model_version
    """
)


@dataclass(frozen=True, slots=True)
class ShadowOutcome:
    """One labelled transaction a challenger scored in shadow."""

    challenger_version: str
    champion_version: str
    champion_score: float | None
    """The champion's ensemble score (``None`` when the ensemble had failed: degraded)."""
    challenger_score: float
    alerted: bool
    """The engine's decision was ``review`` or ``block``."""
    fraud: bool


async def shadow_outcomes(engine: AsyncEngine, *, since: datetime | None) -> list[ShadowOutcome]:
    """Every labelled transaction with a shadow score (decided at or after ``since``)."""
    async with engine.connect() as connection:
        rows = (await connection.execute(_OUTCOMES, {"since": since})).mappings()
        return [
            ShadowOutcome(
                challenger_version=row["challenger_version"],
                champion_version=row["champion_version"],
                champion_score=row["champion_score"],
                challenger_score=row["challenger_score"],
                alerted=row["outcome"] in ("review", "block"),
                fraud=bool(row["fraud"]),
            )
            for row in rows
        ]


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
    auc, ap = _ranking(labels, scores)
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


def _ranking(
    labels: NDArray[np.int8], scores: NDArray[np.float64]
) -> tuple[float | None, float | None]:
    """ROC AUC and average precision; ``None`` with a single class."""
    from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: PLC0415 - heavy

    if len(np.unique(labels)) < 2:
        return None, None
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


class ShadowReader:
    """The champion/challenger comparisons of the database behind ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def comparisons(self, *, since: datetime | None = None) -> list[ShadowComparison]:
        """:func:`compare` over every labelled shadow-scored transaction since ``since``."""
        return compare(await shadow_outcomes(self._engine, since=since))
