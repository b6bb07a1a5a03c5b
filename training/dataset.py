"""Vigil's dataset files: read, validate and write one-transaction-per-row tables.

The format (columns, dtypes, rules) is defined in :mod:`training.schema` and re-exported here.
Files are ``.csv`` (UTF-8, header row, ISO 8601 timestamps with ``Z``, empty cell = missing) or
``.parquet``. :func:`read_dataset` checks every row and raises
:class:`core.errors.DataImportError` naming row and column of each problem (rows count data rows
from 1, after the header); :func:`write_dataset` writes a frame so that reading it back gives an
identical frame, dtypes and leading zeros included.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from core.errors import DataImportError, Problem
from core.models import Transaction
from features.durations import amount_units
from training.csv_text import read_csv_text
from training.schema import (
    ALL_COLUMNS,
    AMOUNT_DTYPE,
    COLUMN_DTYPES,
    LABEL_COLUMN,
    LABEL_DTYPE,
    LEGIT_SCENARIO,
    NULLABLE_TRANSACTION_COLUMNS,
    REQUIRED_COLUMNS,
    SCENARIO_COLUMN,
    STRING_DTYPE,
    TIMESTAMP_COLUMNS,
    TRANSACTION_COLUMNS,
    BoolArray,
    Violation,
    check_frame,
    violation,
    violations_to_problems,
)

__all__ = [
    "ALL_COLUMNS",
    "COLUMN_DTYPES",
    "LABEL_COLUMN",
    "LEGIT_SCENARIO",
    "PROBLEM_LIMIT",
    "REQUIRED_COLUMNS",
    "SCENARIO_COLUMN",
    "SUFFIXES",
    "TRANSACTION_COLUMNS",
    "complete_columns",
    "has_utc_offset",
    "iso_utc_text",
    "parse_amount_text",
    "parse_timestamp_text",
    "read_dataset",
    "to_utc_micros",
    "validate_dataset",
    "write_dataset",
]

SUFFIXES: Final = (".csv", ".parquet")
PROBLEM_LIMIT: Final = 50
"""How many problems an error lists; the message always states the total."""
_NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_UTC_OFFSET = r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}[T ][0-9:.,]+([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)"
_REPEATED = "appears more than once"
_ROWS_NOTE = " (rows count data rows from 1, after the header)"


def validate_dataset(df: pd.DataFrame) -> list[Problem]:
    """Every problem of ``df`` (columns first, then rows in order); empty when it is valid.

    Present columns must have the canonical dtypes of :data:`COLUMN_DTYPES`.
    """
    problems = _name_problems([str(c) for c in df.columns]) + _dtype_problems(df)
    names = [str(c) for c in df.columns]
    typed = [
        c
        for c in names
        if c in COLUMN_DTYPES and names.count(c) == 1 and str(df[c].dtype) == COLUMN_DTYPES[c]
    ]
    rows, _ = violations_to_problems(check_frame(df[typed]))
    return problems + rows


def read_dataset(path: Path) -> pd.DataFrame:
    """The dataset in ``path`` (.csv or .parquet), checked, in stable timestamp order.

    Every Transaction column is present in the result (absent optional ones are all missing);
    ``label``, ``scenario`` and ``label_known_at`` only when the file has them.
    """
    raw = _read_raw(path)
    problems = _name_problems([str(c) for c in raw.columns])
    if any(p.message == _REPEATED for p in problems):
        _raise_problems(f"{path} is not a valid Vigil dataset", problems, [])
    parsed = _parse_columns(raw, from_text=path.suffix == ".csv")
    found = [*parsed.violations, *check_frame(parsed.frame, shown=parsed.shown, skip=parsed.bad)]
    problems += parsed.column_problems
    if problems or found:
        _raise_problems(f"{path} is not a valid Vigil dataset", problems, found)
    ordered = parsed.frame.sort_values("timestamp", kind="stable", ignore_index=True)
    return complete_columns(ordered)


def write_dataset(df: pd.DataFrame, path: Path) -> None:
    """Write the valid dataset ``df`` to ``path`` (.csv or .parquet), replacing it atomically.

    Absent optional Transaction columns are written as missing. Raises
    :class:`core.errors.DataImportError` (writing nothing) when ``df`` is not valid.
    """
    _check_suffix(path)
    problems = validate_dataset(df)
    if problems:
        _raise_problems(f"refusing to write {path}", problems, [], note=" (rows count from 1)")
    frame = complete_columns(df)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _replacing(path) as scratch:
        if path.suffix == ".csv":
            times = {c: iso_utc_text(frame[c]) for c in TIMESTAMP_COLUMNS if c in frame.columns}
            text = frame.assign(**times)
            text.to_csv(scratch, index=False, na_rep="", encoding="utf-8", lineterminator="\n")
        else:
            frame.to_parquet(scratch, index=False, engine="pyarrow")


def complete_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with absent nullable Transaction columns added (all missing), in canonical order."""
    missing = {c: pd.Series(np.nan, index=df.index, dtype=STRING_DTYPE) for c in _absent(df)}
    completed = df.assign(**missing) if missing else df
    return completed[[c for c in ALL_COLUMNS if c in completed.columns]]


def _absent(df: pd.DataFrame) -> list[str]:
    return [c for c in NULLABLE_TRANSACTION_COLUMNS if c not in df.columns]


def parse_amount_text(text: pd.Series) -> tuple[pd.Series, BoolArray]:
    """Decimal numbers in ``text`` as float64 (exact round trip) and the unparseable rows."""
    number = text.str.fullmatch(_NUMBER).to_numpy(dtype=bool)
    amounts = text.where(number).astype(AMOUNT_DTYPE)
    return amounts, text.notna().to_numpy() & ~number


def parse_timestamp_text(text: pd.Series) -> tuple[pd.Series, list[tuple[BoolArray, str]]]:
    """ISO 8601 timestamps with a UTC offset in ``text`` as UTC, and the rows that fail (why)."""
    given = text.notna().to_numpy()
    has_offset = has_utc_offset(text)
    parsed = pd.to_datetime(text.where(has_offset), format="ISO8601", utc=True, errors="coerce")
    unparsed = given & parsed.isna().to_numpy()
    naive = np.zeros(len(text), dtype=bool)
    if (unparsed & ~has_offset).any():
        without_offset = text.where(unparsed & ~has_offset)
        local = pd.to_datetime(without_offset, format="ISO8601", errors="coerce")
        naive = local.notna().to_numpy()
    result, too_fine = to_utc_micros(parsed)
    return result, [
        (unparsed & ~naive, "is not an ISO 8601 timestamp (e.g. 2024-05-01T13:45:00Z)"),
        (naive, "has no UTC offset; write it as 2024-05-01T13:45:00Z or with +02:00"),
        (too_fine, "has more than microsecond precision"),
    ]


def has_utc_offset(text: pd.Series) -> BoolArray:
    """Whether each text is a date and time ending in ``Z`` or a ``±HH:MM`` offset."""
    return text.str.fullmatch(_UTC_OFFSET).to_numpy(dtype=bool)


def to_utc_micros(times: pd.Series) -> tuple[pd.Series, BoolArray]:
    """Timezone-aware ``times`` in UTC at microsecond resolution, and the rows that would lose
    sub-microsecond precision (never truncated silently)."""
    utc = times.dt.tz_convert("UTC")
    too_fine = np.zeros(len(utc), dtype=bool)
    if utc.dt.unit == "ns":
        nanos = utc.to_numpy(dtype="datetime64[ns]").view("int64")
        too_fine = utc.notna().to_numpy() & (nanos % 1000 != 0)
    return utc.dt.as_unit("us"), too_fine


@dataclass
class _Parsed:
    frame: pd.DataFrame
    shown: dict[str, pd.Series] = field(default_factory=dict)
    bad: dict[str, BoolArray] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    column_problems: list[Problem] = field(default_factory=list)

    def fail(self, column: str, failing: BoolArray, problem: str) -> None:
        found = violation(column, failing, self.shown[column], problem)
        if found is not None:
            self.violations.append(found)
            self.bad[column] = self.bad.get(column, np.zeros(len(failing), bool)) | failing


def _parse_columns(raw: pd.DataFrame, *, from_text: bool) -> _Parsed:
    """Turn the file's columns into canonical dtypes, recording cells that do not parse."""
    parsed = _Parsed(pd.DataFrame(index=raw.index))
    for column in (c for c in ALL_COLUMNS if c in raw.columns):
        values = raw[column]
        if from_text:
            values = values.mask(values == "")
        parsed.shown[column] = values
        expected = COLUMN_DTYPES[column]
        if str(values.dtype) == expected:
            parsed.frame[column] = values
        elif values.dtype == object and values.dropna().map(lambda v: isinstance(v, str)).all():
            parsed.shown[column] = values = values.astype(STRING_DTYPE)
            _parse_text(parsed, column, values)
        elif str(values.dtype) == STRING_DTYPE:
            _parse_text(parsed, column, values)
        else:
            _parse_typed(parsed, column, values)
    return parsed


def _parse_text(parsed: _Parsed, column: str, text: pd.Series) -> None:
    if column == "amount":
        parsed.frame[column], unparsed = parse_amount_text(text)
        parsed.fail(column, unparsed, "is not a number")
    elif column in TIMESTAMP_COLUMNS:
        parsed.frame[column], failures = parse_timestamp_text(text)
        for failing, problem in failures:
            parsed.fail(column, failing, problem)
    elif column == LABEL_COLUMN:
        labels = text.map({"0": 0, "1": 1})
        parsed.fail(column, text.isna().to_numpy(), "is required but missing")
        parsed.fail(column, text.notna().to_numpy() & labels.isna().to_numpy(), "must be 0 or 1")
        parsed.frame[column] = labels.fillna(0).astype(LABEL_DTYPE)
    else:
        parsed.frame[column] = text


def _parse_typed(parsed: _Parsed, column: str, values: pd.Series) -> None:
    """Columns of a Parquet file stored with another type than the canonical one."""
    kind = values.dtype.kind
    if column == "amount" and kind in "iuf":
        parsed.frame[column] = values.astype(AMOUNT_DTYPE)
    elif column in TIMESTAMP_COLUMNS and isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed.frame[column], too_fine = to_utc_micros(values)
        parsed.fail(column, too_fine, "has more than microsecond precision")
    elif column == LABEL_COLUMN and kind in "biuf":
        given = values.notna().to_numpy()
        parsed.fail(column, ~given, "is required but missing")
        parsed.fail(column, given & ~values.isin((0, 1)).to_numpy(), "must be 0 or 1")
        parsed.frame[column] = values.where(values.isin((0, 1)), 0).astype(LABEL_DTYPE)
    else:
        why = "timestamps have no timezone; store them in UTC" if kind == "M" else "wrong type"
        parsed.column_problems.append(
            Problem(
                f"column {column}", f"{why}: found {values.dtype}, expected {COLUMN_DTYPES[column]}"
            )
        )


def _name_problems(names: list[str]) -> list[Problem]:
    problems = [
        Problem(f"column {name}", _REPEATED)
        for name in sorted({n for n in names if names.count(n) > 1})
    ]
    expected = ", ".join(ALL_COLUMNS)
    problems += [
        Problem(f"column {name}", f"is not a dataset column (expected: {expected})")
        for name in dict.fromkeys(names)
        if name not in COLUMN_DTYPES
    ]
    return problems + [
        Problem(f"column {column}", "is required but missing")
        for column in REQUIRED_COLUMNS
        if column not in names
    ]


def _dtype_problems(df: pd.DataFrame) -> list[Problem]:
    names = [str(c) for c in df.columns]
    return [
        Problem(f"column {name}", f"has dtype {df[name].dtype}, expected {COLUMN_DTYPES[name]}")
        for name in dict.fromkeys(names)
        if name in COLUMN_DTYPES
        and names.count(name) == 1
        and str(df[name].dtype) != COLUMN_DTYPES[name]
    ]


def _raise_problems(
    headline: str, problems: list[Problem], found: list[Violation], *, note: str = _ROWS_NOTE
) -> None:
    """Raise DataImportError listing at most :data:`PROBLEM_LIMIT` problems and the total."""
    rows, total = violations_to_problems(found, limit=max(PROBLEM_LIMIT - len(problems), 0))
    listed = problems[:PROBLEM_LIMIT] + rows
    count = len(problems) + total
    if count > len(listed):
        listed.append(Problem("", f"... and {count - len(listed)} more problems"))
    raise DataImportError(f"{headline}: {count} problems{note}", listed)


def _read_raw(path: Path) -> pd.DataFrame:
    _check_suffix(path)
    if path.suffix == ".csv":
        return read_csv_text(path)
    if not path.is_file():
        raise DataImportError(f"{path}: no such file")
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (ValueError, OSError) as exc:
        raise DataImportError(f"{path}: cannot be read: {exc}") from exc


def _check_suffix(path: Path) -> None:
    if path.suffix not in SUFFIXES:
        raise DataImportError(f"{path}: unsupported file type; use one of {', '.join(SUFFIXES)}")


def iso_utc_text(times: pd.Series) -> pd.Series:
    """``2024-05-01T13:45:00.000000Z`` text for each UTC time (vectorized, exact to 1 µs);
    missing times stay missing."""
    naive = times.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    text = pd.Series(np.char.add(np.datetime_as_string(naive, unit="us"), "Z"), index=times.index)
    return text.where(times.notna().to_numpy())


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A scratch path next to ``path`` that replaces it only when the block succeeds."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    scratch = Path(name)
    try:
        yield scratch
        scratch.replace(path)
    finally:
        scratch.unlink(missing_ok=True)


def transactions_from_frame(df: pd.DataFrame) -> list[Transaction]:
    """One core Transaction per row of a canonical dataset frame, in row order.

    Amounts become exact Decimals of the frame's 1e-4 units (as the feature computations count
    them); null device and IP values become ``None``; ``attributes`` is not carried over.
    """
    columns = [c for c in TRANSACTION_COLUMNS if c != "attributes"]
    txns = []
    for values in zip(*(df[c].tolist() for c in columns), strict=True):
        row = dict(zip(columns, values, strict=True))
        row["amount"] = Decimal(amount_units(row["amount"])).scaleb(-4)
        row["timestamp"] = pd.Timestamp(row["timestamp"]).to_pydatetime()
        for nullable in ("device_id", "ip_address"):
            row[nullable] = None if _is_null(row[nullable]) else str(row[nullable])
        txns.append(Transaction(**row))
    return txns


def _is_null(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
