"""How a window's exact integers become feature values: the only floating-point steps.

Each formula exists twice, scalar (for online scoring and the reference) and vectorized (for the
offline computation), written as the same sequence of IEEE-754 double operations: an integer
converted to a double, then ``/``, ``*``, ``-`` and ``sqrt``, each correctly rounded. A Lua script
performing the same operations in the same order gets the same bits.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from features.definitions import ZSCORE_CLIP, ZSCORE_MIN_HISTORY
from features.durations import AMOUNT_UNITS_PER_CURRENCY_UNIT, MS_PER_SECOND

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_UNITS = float(AMOUNT_UNITS_PER_CURRENCY_UNIT)


def amount_value(units: int) -> float:
    """An amount (sum or max) in currency units: ``units / 10000``."""
    return float(units) / _UNITS


def mean_value(sum_units: int, count: int) -> float:
    """Mean amount: ``sum_units / (count * 10000)``; NaN for an empty window."""
    return float(sum_units) / (float(count) * _UNITS) if count > 0 else math.nan


def share_value(part: int, count: int) -> float:
    """A share of a window's transactions: ``part / count``; NaN for an empty window."""
    return float(part) / float(count) if count > 0 else math.nan


def seconds_value(delta_ms: int) -> float:
    """Elapsed seconds: ``delta_ms / 1000``."""
    return float(delta_ms) / float(MS_PER_SECOND)


def zscore_value(count: int, sum_cents: int, sum_squares: int, cents: int) -> float:
    """The current amount's z-score against ``count`` previous amounts (all in cents).

    ``mean = S1 / n``; ``var = S2 / n - mean * mean`` (population variance); missing with fewer
    than :data:`ZSCORE_MIN_HISTORY` previous amounts; when ``var <= 0`` (a constant history) the
    score is 0 for the same amount and ±:data:`ZSCORE_CLIP` otherwise; clipped to ±ZSCORE_CLIP.
    """
    if count < ZSCORE_MIN_HISTORY:
        return math.nan
    n = float(count)
    mean = float(sum_cents) / n
    variance = float(sum_squares) / n - mean * mean
    deviation = float(cents) - mean
    if variance <= 0.0:
        return 0.0 if deviation == 0.0 else math.copysign(ZSCORE_CLIP, deviation)
    return min(max(deviation / math.sqrt(variance), -ZSCORE_CLIP), ZSCORE_CLIP)


def amount_column(units: FloatArray) -> FloatArray:
    """:func:`amount_value` for many windows; ``units`` are exact integers rounded to doubles."""
    return units.astype(np.float64) / _UNITS


def mean_column(sum_units: FloatArray, count: IntArray) -> FloatArray:
    """:func:`mean_value` for many windows."""
    denominator = count.astype(np.float64) * _UNITS
    with np.errstate(divide="ignore", invalid="ignore"):
        means = sum_units.astype(np.float64) / denominator
    return np.where(count > 0, means, np.nan)


def share_column(part: IntArray, count: IntArray) -> FloatArray:
    """:func:`share_value` for many windows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = part.astype(np.float64) / count.astype(np.float64)
    return np.where(count > 0, shares, np.nan)


def seconds_column(delta_ms: IntArray) -> FloatArray:
    """:func:`seconds_value` for many windows."""
    return delta_ms.astype(np.float64) / float(MS_PER_SECOND)


def zscore_column(
    count: IntArray, sum_cents: FloatArray, sum_squares: FloatArray, cents: IntArray
) -> FloatArray:
    """:func:`zscore_value` for many windows; sums are exact integers rounded once to doubles."""
    n = count.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sum_cents.astype(np.float64) / n
        variance = sum_squares / n - mean * mean
        deviation = cents.astype(np.float64) - mean
        scores = deviation / np.sqrt(np.where(variance > 0.0, variance, 1.0))
    constant = np.where(deviation == 0.0, 0.0, np.copysign(ZSCORE_CLIP, deviation))
    scores = np.where(variance > 0.0, np.clip(scores, -ZSCORE_CLIP, ZSCORE_CLIP), constant)
    return np.where(count >= ZSCORE_MIN_HISTORY, scores, np.nan)
