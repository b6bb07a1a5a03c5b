"""Fraud-detection metrics on score arrays: pure functions, no I/O.

Ranking quality (ROC AUC, average precision) comes from scikit-learn; the fraud-specific ones are
written out here and tested against hand-computed values:

* **precision / recall / F1 at a threshold** with the confusion matrix (``score >= threshold``
  is flagged), the **alert rate** (share of rows flagged) and **alerts per day** (flagged rows
  divided by the length in days of the period the rows cover, when given);
* **card precision@k**: each day, investigators can check ``k`` accounts; an account's daily
  score is the maximum score of its transactions that day and it is a true fraud when any of them
  is. Precision@k of the day is the share of frauds among the ``min(k, accounts that day)``
  highest-scored accounts (ties broken by account id), averaged over days;
* **recall per fraud scenario**: of the fraud rows of each scenario, the share flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score

LEGIT_SCENARIO = "legit"


class ThresholdMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """Quality of flagging ``score >= threshold``."""

    threshold: float
    flagged: int
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int
    precision: float | None
    recall: float | None
    f1: float | None
    alert_rate: float | None = None
    """Share of the rows flagged (``None`` without rows)."""
    alerts_per_day: float | None = None
    """Flagged rows per day of the evaluated period (``None`` when its length is unknown)."""


class ScenarioRecall(msgspec.Struct, frozen=True, kw_only=True):
    """Of one scenario's fraud rows, the share flagged at the review and block thresholds."""

    frauds: int
    review_recall: float
    block_recall: float


def ranking_metrics(
    labels: NDArray[np.int8], scores: NDArray[np.float64]
) -> tuple[float | None, float | None]:
    """ROC AUC and average precision; ``None`` when ``labels`` hold a single class."""
    if len(np.unique(labels)) < 2:
        return None, None
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def at_threshold(
    labels: NDArray[np.int8],
    scores: NDArray[np.float64],
    threshold: float,
    *,
    days: float | None = None,
) -> ThresholdMetrics:
    """Confusion matrix, precision, recall, F1 and alert rate of ``scores >= threshold``;
    alerts per day too when ``days`` (the length of the period the rows cover) is given."""
    flagged = scores >= threshold
    fraud = labels == 1
    tp = int(np.count_nonzero(flagged & fraud))
    fp = int(np.count_nonzero(flagged & ~fraud))
    fn = int(np.count_nonzero(~flagged & fraud))
    tn = len(labels) - tp - fp - fn
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = (
        None
        if precision is None or recall is None
        else (0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    )
    return ThresholdMetrics(
        threshold=threshold,
        flagged=tp + fp,
        true_positives=tp,
        false_positives=fp,
        true_negatives=tn,
        false_negatives=fn,
        precision=precision,
        recall=recall,
        f1=f1,
        alert_rate=_ratio(tp + fp, len(labels)),
        alerts_per_day=(tp + fp) / days if days is not None and days > 0.0 else None,
    )


def card_precision_at_k(
    days: Sequence[object] | NDArray[np.generic],
    accounts: Sequence[object] | NDArray[np.generic],
    labels: NDArray[np.int8],
    scores: NDArray[np.float64],
    k: int,
) -> float | None:
    """Mean over days of the fraud share among the ``k`` highest-scored accounts of the day.

    ``None`` when there are no rows.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(labels) == 0:
        return None
    rows = pd.DataFrame({"day": days, "account": accounts, "label": labels, "score": scores})
    per_account = rows.groupby(["day", "account"], sort=True).agg(
        score=("score", "max"), label=("label", "max")
    )
    ranked = per_account.reset_index().sort_values(
        ["day", "score", "account"], ascending=[True, False, True], kind="stable"
    )
    top = ranked.groupby("day", sort=True).head(k)
    return float(top.groupby("day", sort=True)["label"].mean().mean())


def scenario_recall(
    scenarios: NDArray[np.object_] | Sequence[str],
    labels: NDArray[np.int8],
    scores: NDArray[np.float64],
    review: float,
    block: float,
) -> dict[str, ScenarioRecall]:
    """Recall of each fraud scenario (rows labelled 1) at the review and block thresholds."""
    names = np.asarray(scenarios, dtype=object)
    fraud = labels == 1
    result = {}
    for name in sorted({str(s) for s in names[fraud]}):
        rows = fraud & (names == name)
        count = int(np.count_nonzero(rows))
        result[name] = ScenarioRecall(
            frauds=count,
            review_recall=float(np.count_nonzero(scores[rows] >= review) / count),
            block_recall=float(np.count_nonzero(scores[rows] >= block) / count),
        )
    return result


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def finite_or_none(value: float | None) -> float | None:
    """``value`` unless it is NaN or infinite (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else value
