"""Label files for ``vigil labels import``: CSV, Parquet or JSON Lines, read through a mapping
(:mod:`cli.label_mapping`), every row checked before anything is written.

One bad row fails the file and nothing is imported: :class:`core.errors.DataImportError` names the
file and, per problem, the row (data rows count from 1 after the header, blank lines skipped; in
JSON Lines files, the line) and the column (with the field it feeds when the names differ).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec

from cli.label_mapping import (
    Column,
    Constant,
    LabelMapping,
    TimeColumn,
    label_value,
    parse_time,
    source_problem,
)
from core.alerts import AlertLabel
from core.errors import DataImportError, Problem
from core.labels import LabelSource
from core.models import Identifier
from storage.labels import NewLabel

SUFFIXES: Final = (".csv", ".parquet", ".jsonl")
PROBLEM_LIMIT: Final = 50
"""Most row problems one error lists (the total is always given)."""
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
"""How far past this machine's clock a ``known_at`` may lie (as at the gateway)."""

Cell = str | datetime | None
Fail = Callable[[str, str, str], None]
"""Report a problem: field, source column, message."""


@dataclass(frozen=True, slots=True)
class LabelLine:
    """One label read from the file, and where: ``row 3`` / ``line 3``."""

    where: str
    label: NewLabel


def read_label_file(path: Path, mapping: LabelMapping, *, now: datetime) -> list[LabelLine]:
    """Every label in ``path`` per ``mapping``; :class:`DataImportError` listing bad rows."""
    if path.suffix not in SUFFIXES:
        raise DataImportError(f"{path}: a label file must end in {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise DataImportError(f"{path}: no such file")
    header, rows, unit = _read(path, mapping)
    if header is not None:
        _check_header(path, header, mapping)
    lines: list[LabelLine] = []
    problems: list[Problem] = []
    bad = 0
    for number, cells in rows:
        where = f"{unit} {number}"
        if isinstance(cells, Problem):
            problems.append(cells)
            bad += 1
            continue
        label, found = _convert(where, cells, mapping, now)
        problems += found
        bad += bool(found)
        if label is not None:
            lines.append(LabelLine(where, label))
    total = len(lines) + bad
    if problems:
        shown = problems[:PROBLEM_LIMIT]
        if len(problems) > PROBLEM_LIMIT:
            shown.append(Problem("", f"... and {len(problems) - PROBLEM_LIMIT} more problems"))
        counting = "data rows count from 1, after the header" if unit == "row" else "lines"
        raise DataImportError(
            f"{path}: {bad} of {total} {unit}s are invalid; nothing was imported ({counting})",
            shown,
        )
    if not lines:
        raise DataImportError(f"{path}: has no labels")
    return lines


RawRows = Iterator[tuple[int, Mapping[str, Any] | Problem]]


def _read(path: Path, mapping: LabelMapping) -> tuple[list[str] | None, RawRows, str]:
    """The header (``None`` for JSON Lines), the rows, and what a row is called."""
    try:
        if path.suffix == ".jsonl":
            return None, _jsonl_rows(path), "line"
        if path.suffix == ".parquet":
            import pandas as pd  # noqa: PLC0415 - only Parquet files need it

            frame = pd.read_parquet(path)
            header = [str(c) for c in frame.columns]
            records = frame.to_dict(orient="records")
            parquet_rows: RawRows = (
                (n, {str(k): v for k, v in r.items()}) for n, r in enumerate(records, 1)
            )
            return header, parquet_rows, "row"
        header, csv_rows = _csv_rows(path, mapping.delimiter, mapping.encoding)
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise DataImportError(f"{path}: cannot be read: {exc}") from exc
    return header, csv_rows, "row"


def _csv_rows(path: Path, delimiter: str, encoding: str) -> tuple[list[str], RawRows]:
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # spreadsheets often start UTF-8 files with a byte-order mark
    text = path.read_bytes().decode(encoding)  # read whole: a decoding error names the file
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise DataImportError(f"{path}: is empty; expected a header row naming the columns")

    def rows() -> RawRows:
        number = 0
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            number += 1
            if len(cells) != len(header):
                yield (
                    number,
                    Problem(
                        f"row {number}", f"has {len(cells)} fields; the header has {len(header)}"
                    ),
                )
            else:
                yield number, dict(zip(header, cells, strict=True))

    return header, rows()


def _jsonl_rows(path: Path) -> RawRows:
    lines = path.read_bytes().decode("utf-8").splitlines()  # read whole: errors name the file

    def rows() -> RawRows:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                yield number, Problem(f"line {number}", f"is not JSON: {exc}")
                continue
            if isinstance(value, dict):
                yield number, value
            else:
                yield number, Problem(f"line {number}", "is not a JSON object")

    return rows()


def _check_header(path: Path, header: list[str], mapping: LabelMapping) -> None:
    problems = []
    has = ", ".join(repr(h) for h in header)
    for source in mapping.columns().values():
        optional = isinstance(source, Column) and source.optional
        if source.column not in header and not optional:
            problems.append(
                Problem(source.where, f"column {source.column!r} is not in {path} ({has})")
            )
        elif header.count(source.column) > 1:
            problems.append(Problem(source.where, f"column {source.column!r} appears twice"))
    if not problems:
        return
    if mapping.path is None:
        raise DataImportError(
            f"{path} lacks the canonical columns transaction_id, label, known_at[, source]; "
            "name them so, or describe the file with --mapping",
            problems,
        )
    raise DataImportError(f"{path} does not match the mapping {mapping.path}", problems)


def _convert(
    where: str, cells: Mapping[str, Any], mapping: LabelMapping, now: datetime
) -> tuple[NewLabel | None, list[Problem]]:
    """The label in one row, or the problems with it (each at ``where, column ...``)."""
    problems: list[Problem] = []

    def fail(field: str, column: str, message: str) -> None:
        named = column if column == field else f"{column} ({field})"
        problems.append(Problem(f"{where}, column {named}", message))

    tid_column = mapping.transaction_id.column
    transaction_id = _text(cells, tid_column)
    if transaction_id is None:
        fail("transaction_id", tid_column, "is empty")
    else:
        try:
            msgspec.convert(transaction_id, Identifier)
        except msgspec.ValidationError:
            fail(
                "transaction_id",
                tid_column,
                f"{transaction_id!r} is not an id (1 to 128 characters, no spaces)",
            )
    label = _label(cells, mapping.label, fail)
    known_at = _known_at(cells, mapping.known_at, now, fail)
    source = _source(cells, mapping.source, fail)
    if problems or transaction_id is None or label is None or known_at is None or source is None:
        return None, problems
    return NewLabel(transaction_id, AlertLabel(label), known_at, source), []


def _translated(cells: Mapping[str, Any], source: Column, field: str, fail: Fail) -> str | None:
    text = _text(cells, source.column)
    if text is None:
        if not source.optional:
            fail(field, source.column, "is empty")
        return None
    if source.values is None:
        return text
    if text not in source.values:
        known = ", ".join(repr(v) for v in source.values)
        fail(field, source.column, f"{text!r} is not among the mapping's values ({known})")
        return None
    return source.values[text]


def _label(cells: Mapping[str, Any], source: Column | Constant, fail: Fail) -> str | None:
    if isinstance(source, Constant):
        return source.value
    text = _translated(cells, source, "label", fail)
    if text is None:
        return None
    label = label_value(text)
    if label is None:
        fail("label", source.column, f"{text!r} is not fraud or legit (map it with `values`)")
        return None
    return label.value


def _source(cells: Mapping[str, Any], source: Column | Constant, fail: Fail) -> str | None:
    if isinstance(source, Constant):
        return source.value
    text = _translated(cells, source, "source", fail)
    if text is None:
        return LabelSource.IMPORT.value if source.optional else None
    problem = source_problem(text)
    if problem is not None:
        fail("source", source.column, problem)
        return None
    return text


def _known_at(
    cells: Mapping[str, Any], source: TimeColumn | datetime, now: datetime, fail: Fail
) -> datetime | None:
    if isinstance(source, datetime):
        return source
    value = _cell(cells.get(source.column))
    if value is None:
        fail("known_at", source.column, "is empty; every label needs the time it became known")
        return None
    try:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = parse_time(value.isoformat(), "iso8601", source.timezone)
            known_at = value
        else:
            known_at = parse_time(value, source.format, source.timezone)
    except (ValueError, OverflowError, OSError) as exc:
        fail("known_at", source.column, f"{value!r} is not a time as {source.format}: {exc}")
        return None
    if known_at - now > MAX_FUTURE_SKEW:
        fail("known_at", source.column, f"{known_at.isoformat()} is in the future")
        return None
    return known_at


def _text(cells: Mapping[str, Any], column: str) -> str | None:
    value = _cell(cells.get(column))
    return value.isoformat() if isinstance(value, datetime) else value


def _cell(value: object) -> Cell:
    """A cell as text (or a time, from Parquet); ``None`` when empty or missing."""
    if value is None or value != value:  # noqa: PLR0124 - NaN and NaT are not equal to themselves
        return None
    if isinstance(value, datetime):
        to_python = getattr(value, "to_pydatetime", None)  # a pandas Timestamp
        return to_python() if callable(to_python) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None
