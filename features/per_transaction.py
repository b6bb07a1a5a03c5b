"""Features of one transaction alone, computed from its event time (ms) and amount (1e-4 units).

The scalar function is what online scoring calls; the vectorized one is what the offline
computation calls. Both use only integer arithmetic and one float division, so they agree exactly.
Calendar features use UTC: Vigil does not know the cardholder's local time zone.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from features.definitions import NIGHT_END_HOUR, TransactionFeatureKind
from features.durations import AMOUNT_UNITS_PER_CURRENCY_UNIT

MS_PER_HOUR: Final = 3_600_000
MS_PER_DAY: Final = 86_400_000
EPOCH_WEEKDAY: Final = 3
"""1970-01-01 was a Thursday; weekdays count Monday = 0 ... Sunday = 6 (Python's convention)."""
SATURDAY: Final = 5


def transaction_feature_value(kind: TransactionFeatureKind, event_ms: int, units: int) -> float:
    """The value of ``kind`` for a transaction at ``event_ms`` of ``units`` 1e-4 amount units."""
    hour = (event_ms // MS_PER_HOUR) % 24
    weekday = (event_ms // MS_PER_DAY + EPOCH_WEEKDAY) % 7
    match kind:
        case TransactionFeatureKind.HOUR_OF_DAY:
            return float(hour)
        case TransactionFeatureKind.DAY_OF_WEEK:
            return float(weekday)
        case TransactionFeatureKind.IS_WEEKEND:
            return 1.0 if weekday >= SATURDAY else 0.0
        case TransactionFeatureKind.IS_NIGHT:
            return 1.0 if hour < NIGHT_END_HOUR else 0.0
        case TransactionFeatureKind.AMOUNT:
            return units / AMOUNT_UNITS_PER_CURRENCY_UNIT


def transaction_feature_column(
    kind: TransactionFeatureKind,
    event_ms: npt.NDArray[np.int64],
    units: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """:func:`transaction_feature_value` for many transactions at once."""
    hour = (event_ms // MS_PER_HOUR) % 24
    weekday = (event_ms // MS_PER_DAY + EPOCH_WEEKDAY) % 7
    match kind:
        case TransactionFeatureKind.HOUR_OF_DAY:
            values = hour
        case TransactionFeatureKind.DAY_OF_WEEK:
            values = weekday
        case TransactionFeatureKind.IS_WEEKEND:
            values = (weekday >= SATURDAY).astype(np.int64)
        case TransactionFeatureKind.IS_NIGHT:
            values = (hour < NIGHT_END_HOUR).astype(np.int64)
        case TransactionFeatureKind.AMOUNT:
            return units.astype(np.float64) / float(AMOUNT_UNITS_PER_CURRENCY_UNIT)
    return values.astype(np.float64)
