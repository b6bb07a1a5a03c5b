"""Champion vs challenger on live traffic: the rows to compare them on.

Every transaction a challenger scored in shadow has a ``shadow_scores`` row; its decision holds
the champion's ensemble score (``decisions.model_scores``, the ``ensemble`` entry) and outcome,
and its current label comes from ``labels`` (:mod:`storage.labels`: the event with the latest
``known_at``). :func:`shadow_outcomes` reads the labelled ones in one query; the metrics are
computed by the caller (``training.shadow``), which keeps numpy and scikit-learn out of here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
