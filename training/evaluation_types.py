"""What an evaluation produces: the ``metrics.json`` structs and the arrays the report plots.

:mod:`training.evaluate` computes these and :mod:`training.report` draws them; both import them
from here, so neither imports the other's types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import msgspec
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from artifacts.manifest import DataSummary
from artifacts.runtime import ScoreBatch
from training.metrics import ScenarioRecall, ThresholdMetrics

METRICS_FILE: Final = "metrics.json"


class Scope(enum.StrEnum):
    """Which rows of the given data are evaluated."""

    TEST = "test"
    ALL = "all"
    WINDOW = "window"
    """The rows in an explicit ``[start, end)`` date range."""


class ScoreEvaluation(msgspec.Struct, frozen=True, kw_only=True):
    """How well one score separates fraud on the evaluated rows."""

    roc_auc: float | None
    average_precision: float | None
    card_precision_at_k: float | None
    review: ThresholdMetrics
    block: ThresholdMetrics
    scenario_recall: dict[str, ScenarioRecall]


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """The content of ``metrics.json``."""

    model_version: str
    scope: Scope
    k: int
    data: DataSummary
    scores: dict[str, ScoreEvaluation]
    start: datetime | None = None
    """Start of the evaluated period (the window's or the test block's; else the first row)."""
    end: datetime | None = None
    """End of the evaluated period (exclusive when a window or test end says so; else the last
    row)."""
    days: float | None = None
    """Length of the evaluated period in days: alerts per day divide by it."""


@dataclass(frozen=True, slots=True, eq=False)
class EvaluationRun:
    """An evaluation with the arrays the report plots."""

    evaluation: Evaluation
    labels: NDArray[np.int8]
    scores: ScoreBatch
    rows: NDArray[np.float64]
    """The evaluated feature rows (for feature importances)."""
    transactions: pd.DataFrame
    """The evaluated rows of the dataset (ids and times, for ``--scores-out``)."""
