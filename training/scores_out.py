"""Per-transaction scores of an evaluation, as a file (``vigil evaluate --scores-out``).

One row per evaluated transaction, in the dataset's (time) order:

=================== =====================================================================
``transaction_id``  the transaction
``timestamp``       its event time (UTC; ISO 8601 with ``Z`` in CSV)
``account_id``      its account (for card-level metrics such as precision@k)
``label``           1 fraud, 0 legitimate (empty when the label is not known)
``scenario``        the fraud scenario (``legit`` for legitimate rows), when the data has it
``xgboost``         XGBoost's fraud probability
``isolation_forest`` the anomaly score
``ensemble``        the ensemble's risk, what the engine decides with
``outcome``         ``allow``, ``review`` or ``block`` at the ensemble's thresholds (the model
                    alone; the engine's rules can raise it)
=================== =====================================================================

The format follows the extension: ``.csv`` or ``.parquet``; anything else is refused before any
work is done (:func:`check_scores_path`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from artifacts.manifest import MODEL_NAMES, Thresholds
from artifacts.runtime import ScoreBatch
from core.errors import InvalidInputError, Problem
from core.models import Outcome
from training.dataset import iso_utc_text
from training.schema import LABEL_COLUMN, SCENARIO_COLUMN

SCORES_SUFFIXES: Final = (".csv", ".parquet")
OUTCOME_COLUMN: Final = "outcome"


def check_scores_path(path: Path, flag: str = "--scores-out") -> None:
    """Raise :class:`InvalidInputError` naming ``flag`` unless ``path`` ends in .csv/.parquet."""
    if path.suffix.lower() not in SCORES_SUFFIXES:
        raise InvalidInputError(
            "cannot write the scores",
            [Problem(flag, f"{path} must end in .csv or .parquet (the format follows it)")],
        )


def outcomes(risk: NDArray[np.float64], thresholds: Thresholds) -> NDArray[np.object_]:
    """``block`` at or above the block threshold, else ``review`` at or above review, else
    ``allow``."""
    return np.where(
        risk >= thresholds.block,
        Outcome.BLOCK.value,
        np.where(risk >= thresholds.review, Outcome.REVIEW.value, Outcome.ALLOW.value),
    ).astype(object)


def scores_frame(
    transactions: pd.DataFrame,
    scores: ScoreBatch,
    thresholds: Thresholds,
    labels: NDArray[np.int8] | None = None,
) -> pd.DataFrame:
    """The scores file's table for ``transactions`` (aligned with ``scores`` row by row).

    ``labels`` default to the ``label`` column when there is one; ``thresholds`` are the
    ensemble's.
    """
    if len(transactions) != len(scores):
        raise ValueError(f"{len(transactions)} transactions but {len(scores)} scores")
    frame = transactions[["transaction_id", "timestamp", "account_id"]].reset_index(drop=True)
    if labels is not None:
        frame[LABEL_COLUMN] = pd.array(labels, dtype="Int8")
    elif LABEL_COLUMN in transactions.columns:
        frame[LABEL_COLUMN] = pd.array(transactions[LABEL_COLUMN].to_numpy(), dtype="Int8")
    else:
        frame[LABEL_COLUMN] = pd.array([None] * len(transactions), dtype="Int8")
    if SCENARIO_COLUMN in transactions.columns:
        frame[SCENARIO_COLUMN] = transactions[SCENARIO_COLUMN].to_numpy()
    for name in MODEL_NAMES:
        frame[name] = scores.by_name(name)
    frame[OUTCOME_COLUMN] = outcomes(scores.ensemble, thresholds)
    return frame


def write_scores(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (from :func:`scores_frame`) as CSV or Parquet according to ``path``."""
    check_scores_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        text = frame.assign(timestamp=iso_utc_text(frame["timestamp"]))
        text.to_csv(path, index=False, na_rep="", encoding="utf-8", lineterminator="\n")
    else:
        frame.to_parquet(path, index=False, engine="pyarrow")
