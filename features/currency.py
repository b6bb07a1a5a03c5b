"""Amounts as features see them: integer 1e-4 units of the FX table's base currency.

One conversion (:meth:`config.fx.FxTable.convert_units`: ``round_half_up(u * rate)`` on the 1e-4
grid, exact integers) serves the online store (:func:`transaction_units`, one transaction) and
the offline computation (:func:`base_units_column`, a column), so both agree to the bit. Without
an FX table amounts stay in their own currency.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from config.fx import FxTable
from core.errors import InvalidInputError, Problem
from core.models import Transaction
from features.durations import amount_units

IntArray = npt.NDArray[np.int64]
_INT64_MAX: Final = 2**63 - 1
_MAX_REPORTED_ROWS: Final = 5


def transaction_units(txn: Transaction, fx: FxTable | None) -> int:
    """``txn.amount`` in 1e-4 base-currency units (own-currency units without a table).

    Raises :class:`InvalidInputError` naming ``currency`` when it has no rate.
    """
    units = amount_units(txn.amount)
    return units if fx is None else fx.convert_units(units, txn.currency)


def base_units_column(units: IntArray, currencies: pd.Series, fx: FxTable) -> IntArray:
    """Each row's ``units`` (1e-4 units of its ``currencies`` value) in 1e-4 base units.

    The same integers as :meth:`FxTable.convert_units` row by row: int64 arithmetic where
    ``2·u·n + d`` fits, exact Python integers otherwise. Raises :class:`InvalidInputError` naming
    ``column currency`` and the rows whose currency is missing or has no rate.
    """
    codes, uniques = pd.factorize(currencies, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes < 0
    unknown = [code for code, value in enumerate(uniques) if not fx.has_rate(str(value))]
    bad = missing | np.isin(codes, unknown)
    if bad.any():
        rows = currencies.index[bad]
        shown = ", ".join(str(row) for row in rows[:_MAX_REPORTED_ROWS])
        more = (
            f" and {len(rows) - _MAX_REPORTED_ROWS} more" if len(rows) > _MAX_REPORTED_ROWS else ""
        )
        names = sorted({str(v) for c, v in enumerate(uniques) if c in unknown})
        what = f"no exchange rate for {', '.join(names)}" if names else "missing"
        where = f" in {fx.source}" if fx.source else ""
        raise InvalidInputError(
            "column currency has currencies the FX table cannot convert",
            [Problem("column currency", f"rows {shown}{more}: {what}{where}")],
        )
    out = units.copy()
    for code, value in enumerate(uniques):
        ratio = fx.ratio(str(value))
        if ratio is None or ratio == (1, 1):
            continue
        numerator, denominator = ratio
        rows = codes == code
        selected = units[rows]
        largest = int(selected.max()) if selected.size else 0
        if 2 * max(largest, 1) * numerator + 2 * denominator <= _INT64_MAX:
            out[rows] = (selected * (2 * numerator) + denominator) // (2 * denominator)
        else:
            exact = (selected.astype(object) * (2 * numerator) + denominator) // (2 * denominator)
            out[rows] = np.asarray(exact, dtype=np.int64)
    return out
