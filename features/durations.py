"""Window arithmetic shared by the offline and the online feature computations.

Everything here is integer arithmetic so that pandas, plain Python and a Redis Lua script (whose
numbers are IEEE doubles, exact below 2**53) agree to the bit:

* event time is an integer number of **milliseconds** since the Unix epoch, floored;
* amounts are integers in **1e-4 units** of the transaction's currency (``12.5`` → ``125000``);
* durations (windows, lags) are written ``<count><unit>`` and held as milliseconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

MS_PER_SECOND: Final = 1_000
AMOUNT_UNITS_PER_CURRENCY_UNIT: Final = 10_000
"""Amounts enter sums as integers in 1e-4 units: ISO 4217 currencies use at most four decimals."""
UNITS_PER_CENT: Final = 100
"""The z-score works in cents (1e-2 units) so that its sums of squares stay small."""

DURATION_UNITS_MS: Final[dict[str, int]] = {
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
"""Duration units: seconds, minutes (``m`` is never months), hours, days."""
MAX_DURATION_MS: Final = 366 * DURATION_UNITS_MS["d"]
"""Longest window or lag: online state must expire, so every window is bounded."""

DURATION_PATTERN: Final = re.compile(r"^([1-9][0-9]{0,5})([smhd])$")
"""``<count><unit>``: a positive integer without leading zeros or sign, then one unit letter."""
DURATION_GRAMMAR: Final = (
    "a duration is <count><unit>: a positive integer without leading zeros followed by one of "
    "s (seconds), m (minutes), h (hours), d (days), e.g. 1m, 1h, 24h, 7d, 30d; at most 366d"
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)


def parse_duration(text: str) -> int:
    """Milliseconds in ``text`` (``"24h"`` → 86 400 000); :class:`ValueError` says why not."""
    match = DURATION_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: {DURATION_GRAMMAR}")
    milliseconds = int(match.group(1)) * DURATION_UNITS_MS[match.group(2)]
    if milliseconds > MAX_DURATION_MS:
        raise ValueError(f"{text!r} is longer than the longest allowed duration, 366d")
    return milliseconds


def event_time_ms(timestamp: datetime) -> int:
    """Event time in whole milliseconds since the epoch, floored (sub-millisecond digits drop)."""
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError(f"timestamp {timestamp.isoformat()} has no timezone")
    return (timestamp - _EPOCH) // _ONE_MS


def amount_units(amount: Decimal | float) -> int:
    """``amount`` as an integer count of 1e-4 units.

    A :class:`~decimal.Decimal` with at most four decimals converts exactly; a float (as in a
    pandas column) is rounded to the nearest unit, which recovers the exact value for every amount
    Vigil accepts (at most 1e9 with four decimals, far inside float64's precision).
    """
    if isinstance(amount, Decimal):
        scaled = amount.scaleb(4)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"amount {amount} has more than four decimal places")
        return int(scaled)
    return round(float(amount) * AMOUNT_UNITS_PER_CURRENCY_UNIT)


def cents_of_units(units: int) -> int:
    """Amount units (1e-4) rounded half up to cents (1e-2), as the z-score uses them."""
    return (units + UNITS_PER_CENT // 2) // UNITS_PER_CENT
