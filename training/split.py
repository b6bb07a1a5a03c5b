"""Cut a labelled dataset in time: fit, validation tail, label-delay gap, test.

Two ways to place the blocks: by **fractions** (:func:`time_split`, the default: the test block is
the latest share of rows) or by explicit **dates** (:func:`training.windows.window_split`). Both
return a :class:`TimeSplit`, and both train only on rows whose label was known by the end of the
train block (``known_at``, see :mod:`training.labels`; by default every train label is known).

Fraud labels arrive late (chargebacks take weeks), so a model deployed at time T was trained on
data whose labels had matured by T: the rows of the last ``gap_days`` before the test block are
used for nothing. Every cut is by event time, never by shuffling, so no test row precedes a
training row::

    |------------- train -------------|--- gap ---|------- test -------|
    |-------- fit --------|-validation-|

* ``test``: the last ``test_fraction`` of rows by time (rows sharing the boundary timestamp all
  go to test).
* ``gap``: rows in ``[test_start - gap_days, test_start)``; excluded from both sides.
* ``validation``: the last ``validation_fraction`` of the train rows by time; used for early
  stopping, for fitting the ensemble and for choosing thresholds. There is no gap between fit and
  validation: validation is a tuning set, not a simulation of deployment.
* ``unlabelled``: train rows whose label was not known by the end of the train block; they are
  neither fit nor validation rows (but count in the validation period's alert volume).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from artifacts.manifest import DataSummary
from core.errors import InvalidInputError, Problem

BoolArray = NDArray[np.bool_]
LABEL = "label"
SCENARIO = "scenario"
TIMESTAMP = "timestamp"


_MICROS_PER_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True, eq=False)
class TimeSplit:
    """Row masks (aligned with the dataset's rows) of the blocks, and the cut times.

    Every row is in exactly one of ``fit``, ``validation``, ``unlabelled``, ``gap``, ``test`` and
    ``outside``. ``gap_start`` is the end of the train block, when its labels are read.
    """

    fit: BoolArray
    validation: BoolArray
    gap: BoolArray
    test: BoolArray
    unlabelled: BoolArray
    """Train rows whose label was not known at ``gap_start``."""
    outside: BoolArray
    """Rows before ``train_start`` or at/after ``test_end`` (feature history only)."""
    validation_period: BoolArray
    """Every row in ``[validation_start, gap_start)``, labelled or not: the alert-rate sample."""
    validation_start: datetime
    gap_start: datetime
    test_start: datetime
    train_rows_per_day: float
    """Mean traffic of the train block (all its rows over its length in days)."""
    train_start: datetime | None = None
    """``None``: the train block starts at the first row."""
    test_end: datetime | None = None
    """``None``: the test block runs through the last row."""


def time_split(
    timestamps: pd.Series,
    *,
    test_fraction: float,
    gap_days: float,
    validation_fraction: float,
    known_at: NDArray[np.datetime64] | None = None,
) -> TimeSplit:
    """Split rows by event time; raise :class:`InvalidInputError` when a block would be empty.

    ``known_at`` (naive UTC, as :func:`training.labels.label_known_times` gives) leaves the train
    rows whose label was not known at the gap start out of fit and validation.
    """
    problems = []
    if not 0.0 < test_fraction < 1.0:
        problems.append(Problem("test_fraction", f"must be between 0 and 1, got {test_fraction}"))
    if not 0.0 < validation_fraction < 1.0:
        problems.append(
            Problem("validation_fraction", f"must be between 0 and 1, got {validation_fraction}")
        )
    if not (gap_days >= 0.0 and math.isfinite(gap_days)):
        problems.append(Problem("gap_days", f"must be a non-negative number, got {gap_days}"))
    if problems:
        raise InvalidInputError("invalid split options", problems)
    if len(timestamps) < 3:
        raise InvalidInputError(f"need at least 3 rows to split, got {len(timestamps)}")
    times = utc_times(timestamps)
    ordered = np.sort(times)
    test_start = ordered[len(ordered) - max(1, round(len(ordered) * test_fraction))]
    gap_start = test_start - np.timedelta64(round(gap_days * _MICROS_PER_DAY), "us")
    test = times >= test_start
    train = times < gap_start
    gap = ~test & ~train
    if int(np.count_nonzero(train)) < 2:
        raise InvalidInputError(
            f"no training rows before the gap: the test block starts at {_iso(test_start)} and "
            f"the {gap_days:g}-day gap leaves {int(np.count_nonzero(train))} row(s) before it; "
            "lower the gap or the test fraction"
        )
    known = train if known_at is None else train & (known_at <= gap_start)
    fit, validation, validation_start = train_blocks(times, known, validation_fraction)
    return TimeSplit(
        fit=fit,
        validation=validation,
        gap=gap,
        test=test,
        unlabelled=train & ~known,
        outside=np.zeros(len(times), dtype=np.bool_),
        validation_period=train & (times >= validation_start),
        validation_start=_to_datetime(validation_start),
        gap_start=_to_datetime(gap_start),
        test_start=_to_datetime(test_start),
        train_rows_per_day=rows_per_day(
            int(np.count_nonzero(train)), times[train].min(), gap_start
        ),
    )


def rows_per_day(rows: int, start: np.datetime64, end: np.datetime64) -> float:
    """``rows`` over the days from ``start`` to ``end`` (at least one second, never zero)."""
    seconds = max(float((end - start) / np.timedelta64(1, "s")), 1.0)
    return rows / (seconds / 86_400.0)


def train_blocks(
    times: NDArray[np.datetime64], labelled: BoolArray, validation_fraction: float
) -> tuple[BoolArray, BoolArray, np.datetime64]:
    """Fit and validation masks over the ``labelled`` train rows, and the validation start.

    Validation is the latest ``validation_fraction`` of those rows (ties at its start included).
    """
    train_times = np.sort(times[labelled])
    if len(train_times) < 2:
        raise InvalidInputError(
            f"need at least 2 train rows with a known label, got {len(train_times)}"
        )
    n_validation = max(1, round(len(train_times) * validation_fraction))
    validation_start = train_times[len(train_times) - n_validation]
    validation = labelled & (times >= validation_start)
    fit = labelled & ~validation
    if not fit.any():
        raise InvalidInputError(
            f"no fit rows: every training row is at or after the validation start "
            f"{_iso(validation_start)}; lower the validation fraction"
        )
    return fit, validation, validation_start


def utc_times(timestamps: pd.Series) -> NDArray[np.datetime64]:
    """Timezone-aware event times as naive UTC ``datetime64`` values (for fast comparisons)."""
    if not isinstance(timestamps.dtype, pd.DatetimeTZDtype):
        raise InvalidInputError(
            f"column {TIMESTAMP} must hold timezone-aware datetimes, got dtype {timestamps.dtype}"
        )
    if timestamps.isna().any():
        first = timestamps.index[timestamps.isna().to_numpy()][0]
        raise InvalidInputError(f"column {TIMESTAMP} is missing at row {first}")
    index = pd.DatetimeIndex(timestamps).tz_convert("UTC").tz_localize(None)
    # Microseconds (floored) are what a Python datetime, and so the manifest, can hold.
    return np.asarray(index.to_numpy().astype("datetime64[us]"), dtype=np.datetime64)


def rows_from(timestamps: pd.Series, start: datetime, end: datetime | None = None) -> BoolArray:
    """Mask of the rows at or after ``start`` and, when given, before ``end`` (how evaluation
    finds a manifest's test block)."""
    inside = timestamps >= pd.Timestamp(start)
    if end is not None:
        inside &= timestamps < pd.Timestamp(end)
    return np.asarray(inside, dtype=np.bool_)


def summarize(frame: pd.DataFrame, mask: BoolArray | None = None) -> DataSummary:
    """Rows, frauds, time range and rows per scenario of ``frame`` (or its ``mask`` rows)."""
    block = frame if mask is None else frame.loc[mask]
    times = block[TIMESTAMP]
    counts = block[SCENARIO].value_counts(sort=False)
    return DataSummary(
        rows=len(block),
        frauds=int((block[LABEL] == 1).sum()),
        start=_to_datetime(times.min()) if len(block) else None,
        end=_to_datetime(times.max()) if len(block) else None,
        scenarios={str(name): int(counts[name]) for name in sorted(counts.index)},
    )


def to_datetime(value: object) -> datetime:
    """A timezone-aware (UTC if naive) datetime, floored to microseconds."""
    return _to_datetime(value)


def _to_datetime(value: object) -> datetime:
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]  # numpy datetime64 or pandas Timestamp
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.floor("us").to_pydatetime()


def _iso(value: object) -> str:
    return _to_datetime(value).isoformat()
