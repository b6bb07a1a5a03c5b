"""The offline computation of a :class:`~features.definitions.FeatureSet` over a pandas DataFrame.

Point-in-time correct: arrival order is the event time in milliseconds, ties kept in input row
order, and a row's features see only itself and rows that arrived before it. Label-aware features
read the ``label`` column (1 = fraud) and, when present, ``label_known_at`` (when each label became
known; a row without it is known at its event time), and count a label only once it was known. The
semantics are those of ``docs/features.md`` (and of :mod:`features.reference`, which spells them
out as plain loops); the online Redis store reproduces them exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import pandas as pd

from core.errors import InvalidInputError, Problem
from core.models import MAX_AMOUNT
from features.currency import base_units_column
from features.definitions import FeatureSet, FeatureSpec, Stat
from features.durations import AMOUNT_UNITS_PER_CURRENCY_UNIT, UNITS_PER_CENT
from features.formulas import (
    amount_column,
    mean_column,
    seconds_column,
    share_column,
    zscore_column,
)
from features.per_transaction import transaction_feature_column
from features.window_kernels import (
    BoolArray,
    Bounds,
    EntityLayout,
    FloatArray,
    IntArray,
    Occurrences,
    build_layout,
    distinct_counts,
    known_counts,
    occurrences,
    seen_before,
    window_bounds,
    window_max,
    window_sums,
)

_MAX_REPORTED_ROWS = 5
LABEL_COLUMN: Final = "label"
"""1 for a transaction known to be fraud, 0 (or missing) otherwise."""
LABEL_KNOWN_AT_COLUMN: Final = "label_known_at"
"""Optional: when each row's label became known (tz-aware; missing = at the row's event time)."""


def compute_features(df: pd.DataFrame, feature_set: FeatureSet) -> pd.DataFrame:
    """Every feature of ``feature_set`` for every row of ``df``: float64 columns named
    ``feature_set.names``, indexed like ``df``; NaN means missing.

    ``df`` is Vigil's canonical transaction dataset (``timestamp`` tz-aware, ``amount`` float64,
    ``currency`` when the feature set has an FX table (amounts are converted to its base currency
    exactly as online, :mod:`features.currency`), the entity and ``of`` columns the specs name;
    for label-aware specs ``label`` and optionally
    ``label_known_at``, see :func:`known_fraud`; other columns are ignored). Raises
    :class:`~core.errors.InvalidInputError` naming the column and rows when an input is unusable.
    """
    event_ms = event_times_ms(df)
    units = amount_units_column(df)
    if feature_set.fx is not None:
        _require_columns(df, ["currency"])
        units = base_units_column(units, df["currency"], feature_set.fx)
    fraud, known_ms = known_fraud(df, event_ms) if feature_set.label_aware else (None, None)
    # One row per feature: filling a column is a contiguous write, and the transpose is the
    # layout pandas keeps a float64 block in, so the frame below wraps `out` without copying.
    out = np.empty((len(feature_set.names), len(df)), dtype=np.float64)
    codes = _FieldCodes(df)
    for entity in feature_set.entities:
        layout = build_layout(codes.get(entity), event_ms, feature_set.max_window_ms_for(entity))
        labels = None
        if fraud is not None and known_ms is not None:
            labels = (fraud[layout.rows], known_ms[layout.rows])
        computer = _EntityComputer(layout, units, codes, labels)
        for column, spec in enumerate(feature_set.windowed):
            if spec.entity == entity:
                if layout.size < len(df):
                    out[column] = np.nan
                out[column, layout.rows] = computer.compute(spec)
    first = len(feature_set.windowed)
    for offset, kind in enumerate(feature_set.per_transaction):
        out[first + offset] = transaction_feature_column(kind, event_ms, units)
    return pd.DataFrame(out.T, index=df.index, columns=list(feature_set.names), copy=False)


def event_times_ms(df: pd.DataFrame) -> IntArray:
    """The ``timestamp`` column as integer milliseconds since the epoch, floored."""
    _require_columns(df, ["timestamp"])
    timestamps = df["timestamp"]
    if not isinstance(timestamps.dtype, pd.DatetimeTZDtype):
        raise InvalidInputError(
            "column timestamp must hold timezone-aware datetimes",
            [Problem("column timestamp", f"dtype is {timestamps.dtype}")],
        )
    _reject_nulls(df, "timestamp")
    naive = timestamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return np.asarray(naive.astype("datetime64[ms]").astype(np.int64), dtype=np.int64)


def known_fraud(df: pd.DataFrame, event_ms: IntArray) -> tuple[BoolArray, IntArray]:
    """Per row: whether it is labelled fraud, and when its label became known (ms, floored).

    ``label`` is 1 for fraud, 0 for legitimate, missing for unlabelled; a frame without the column
    has no known labels. ``label_known_at`` (tz-aware) says when; where it is missing or absent the
    label is known at the row's event time, the earliest it can be (a spec's ``label_delay`` then
    says how much later it counts).
    """
    if LABEL_COLUMN not in df.columns:
        return np.zeros(len(df), dtype=np.bool_), event_ms
    labels = pd.to_numeric(df[LABEL_COLUMN], errors="coerce")
    unreadable = labels.isna() & df[LABEL_COLUMN].notna()
    bad = ((labels.notna() & ~labels.isin((0, 1))) | unreadable).to_numpy(dtype=np.bool_)
    if bad.any():
        raise InvalidInputError(
            f"column {LABEL_COLUMN} must hold 0, 1 or nothing",
            _row_problems(df.index[bad], LABEL_COLUMN, "not 0 or 1"),
        )
    fraud = (labels == 1).to_numpy(dtype=np.bool_)
    if LABEL_KNOWN_AT_COLUMN not in df.columns:
        return fraud, event_ms
    known = df[LABEL_KNOWN_AT_COLUMN]
    if not isinstance(known.dtype, pd.DatetimeTZDtype):
        raise InvalidInputError(
            f"column {LABEL_KNOWN_AT_COLUMN} must hold timezone-aware datetimes",
            [Problem(f"column {LABEL_KNOWN_AT_COLUMN}", f"dtype is {known.dtype}")],
        )
    present = known.notna().to_numpy()
    naive = known[present].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    known_ms = event_ms.copy()
    known_ms[present] = naive.astype("datetime64[ms]").astype(np.int64)
    return fraud, known_ms


def amount_units_column(df: pd.DataFrame) -> IntArray:
    """The ``amount`` column in integer 1e-4 units (rounded to the nearest unit)."""
    _require_columns(df, ["amount"])
    if not pd.api.types.is_numeric_dtype(df["amount"].dtype):
        raise InvalidInputError(
            "column amount must be numeric",
            [Problem("column amount", f"dtype is {df['amount'].dtype}")],
        )
    _reject_nulls(df, "amount")
    amounts = df["amount"].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(amounts) | (amounts < 0) | (amounts > float(MAX_AMOUNT))
    if bad.any():
        raise InvalidInputError(
            f"column amount must hold numbers from 0 to {MAX_AMOUNT}",
            _row_problems(df.index[bad], "amount", "out of range"),
        )
    units = np.rint(amounts * AMOUNT_UNITS_PER_CURRENCY_UNIT)
    return np.asarray(units, dtype=np.int64)


class _FieldCodes:
    """Integer codes (-1 for null) of each categorical column, factorized once."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df
        self._codes: dict[str, IntArray] = {}

    def get(self, field: str) -> IntArray:
        if field not in self._codes:
            _require_columns(self._df, [field])
            codes, _ = pd.factorize(self._df[field], use_na_sentinel=True)
            self._codes[field] = np.asarray(codes, dtype=np.int64)
        return self._codes[field]


class _EntityComputer:
    """Computes specs of one entity, sharing bounds and value indexes between them."""

    def __init__(
        self,
        layout: EntityLayout,
        units: IntArray,
        codes: _FieldCodes,
        labels: tuple[BoolArray, IntArray] | None,
    ) -> None:
        self._layout = layout
        self._units = units[layout.rows]
        self._codes = codes
        self._labels = labels
        """Fraud flags and known times (ms) per sorted position, for label-aware specs."""
        self._bounds: dict[tuple[int, int], Bounds] = {}
        self._occurrences: dict[str, Occurrences] = {}

    def compute(self, spec: FeatureSpec) -> FloatArray:
        bounds = self._bounds_for(spec)
        count = bounds.end - bounds.start
        match spec.stat:
            case Stat.COUNT:
                values = count.astype(np.float64)
            case Stat.SUM:
                values = amount_column(self._sums(bounds.start, bounds.end))
            case Stat.MEAN:
                values = mean_column(self._sums(bounds.start, bounds.end), count)
            case Stat.MAX:
                values = amount_column(window_max(self._units, bounds.start, bounds.end))
            case Stat.SECONDS_SINCE_LAST:
                values = self._seconds_since_last(bounds)
            case Stat.ZSCORE:
                values = self._zscore(bounds)
            case Stat.DISTINCT | Stat.FIRST_SEEN:
                values = self._value_stat(spec, bounds)
            case Stat.FRAUD_COUNT:
                values = self._known_fraud(spec, bounds).astype(np.float64)
            case Stat.FRAUD_SHARE:
                previous = bounds.previous_end - bounds.start
                values = share_column(self._known_fraud(spec, bounds), previous)
        return values

    def _known_fraud(self, spec: FeatureSpec, bounds: Bounds) -> IntArray:
        if self._labels is None:  # compute_features reads labels whenever a spec needs them
            raise AssertionError(spec.name)
        fraud, known_ms = self._labels
        return known_counts(self._layout, bounds, fraud, known_ms, spec.label_delay_ms)

    def _bounds_for(self, spec: FeatureSpec) -> Bounds:
        key = (spec.window_ms, spec.lag_ms)
        if key not in self._bounds:
            self._bounds[key] = window_bounds(self._layout, *key)
        return self._bounds[key]

    def _sums(self, start: IntArray, end: IntArray) -> FloatArray:
        return window_sums(self._units, start, end, square=False)

    def _seconds_since_last(self, bounds: Bounds) -> FloatArray:
        has_previous = bounds.previous_end > bounds.start
        last = np.clip(bounds.previous_end - 1, 0, None)
        delta = self._layout.times - self._layout.times[last]
        return np.where(has_previous, seconds_column(delta), np.nan)

    def _zscore(self, bounds: Bounds) -> FloatArray:
        cents = (self._units + UNITS_PER_CENT // 2) // UNITS_PER_CENT
        start, end = bounds.start, bounds.previous_end
        sum_cents = window_sums(cents, start, end, square=False)
        sum_squares = window_sums(cents, start, end, square=True)
        return zscore_column(end - start, sum_cents, sum_squares, cents)

    def _value_stat(self, spec: FeatureSpec, bounds: Bounds) -> FloatArray:
        if spec.of is None:  # the spec type guarantees `of` for these stats
            raise AssertionError(spec.name)
        if spec.of not in self._occurrences:
            self._occurrences[spec.of] = occurrences(self._layout, self._codes.get(spec.of))
        occ = self._occurrences[spec.of]
        if spec.stat is Stat.DISTINCT:
            return distinct_counts(occ, bounds).astype(np.float64)
        flags = np.where(seen_before(occ, bounds), 0.0, 1.0)
        return np.where(occ.pair >= 0, flags, np.nan)


def _require_columns(df: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [name for name in columns if name not in df.columns]
    if missing:
        raise InvalidInputError(
            "the transaction frame lacks columns the features need",
            [Problem(f"column {name}", "missing") for name in missing],
        )


def _reject_nulls(df: pd.DataFrame, column: str) -> None:
    nulls = df[column].isna().to_numpy()
    if nulls.any():
        raise InvalidInputError(
            f"column {column} has missing values",
            _row_problems(df.index[nulls], column, "missing"),
        )


def _row_problems(labels: pd.Index, column: str, message: str) -> list[Problem]:
    problems = [
        Problem(f"row {label}, column {column}", message) for label in labels[:_MAX_REPORTED_ROWS]
    ]
    if len(labels) > _MAX_REPORTED_ROWS:
        problems.append(
            Problem(f"column {column}", f"and {len(labels) - _MAX_REPORTED_ROWS} more rows")
        )
    return problems
