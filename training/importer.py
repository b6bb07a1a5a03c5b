"""``vigil import``: turn a foreign CSV into a Vigil dataset through a mapping file.

Every cell is read as text and converted per the mapping (:mod:`training.import_mapping`), then
checked with the dataset rules. Problems name the row in the SOURCE file (data rows count from 1,
after the header), its column, the value and what is wrong. By default one bad row fails the
import and nothing is written; with ``skip_invalid`` the good rows are written and the bad ones go,
with their reasons, to ``<out>.rejects.csv`` next to the output.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from core.errors import DataImportError, Problem
from training.csv_text import read_csv_text
from training.dataset import (
    PROBLEM_LIMIT,
    has_utc_offset,
    parse_amount_text,
    parse_timestamp_text,
    to_utc_micros,
    write_dataset,
)
from training.import_mapping import (
    UNIX_FORMATS,
    ColumnSource,
    Constant,
    ImportMapping,
    LabelSource,
    RowNumber,
    TimestampSource,
    load_mapping,
)
from training.schema import (
    LABEL_COLUMN,
    LABEL_DTYPE,
    SCENARIO_COLUMN,
    STRING_DTYPE,
    TRANSACTION_COLUMNS,
    WHITESPACE_CLASS,
    BoolArray,
    Violation,
    check_frame,
    violation,
    violations_to_problems,
)

_UNIX_NUMBER: Final = {
    "unix_s": r"[+-]?[0-9]+(\.[0-9]{0,6})?",
    "unix_ms": r"[+-]?[0-9]+(\.[0-9]{0,3})?",
}
_UNIX_SCALE: Final = {"unix_s": 1_000_000, "unix_ms": 1_000}
_MAX_MICROS: Final = 2**62


@dataclass(frozen=True)
class ImportSummary:
    """What an import did."""

    rows_read: int
    rows_written: int
    rows_rejected: int
    output: Path
    rejects: Path | None


@dataclass
class Conversion:
    """A source frame converted to dataset columns, and every cell that is wrong."""

    frame: pd.DataFrame
    violations: list[Violation] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    """Field -> how messages name it (the source column behind it)."""
    shown: dict[str, pd.Series] = field(default_factory=dict)
    bad: dict[str, BoolArray] = field(default_factory=dict)

    def fail(self, name: str, failing: BoolArray, problem: str) -> None:
        found = violation(name, failing, self.shown[name], problem)
        if found is not None:
            self.violations.append(found)
            self.bad[name] = self.bad.get(name, np.zeros(len(failing), bool)) | failing

    def rejected(self) -> BoolArray:
        """Rows with at least one problem."""
        rows = np.zeros(len(self.frame), dtype=bool)
        for found in self.violations:
            rows[found.positions] = True
        return rows


def rejects_path(out: Path) -> Path:
    """Where rejected rows of an import into ``out`` are written."""
    return out.with_name(f"{out.stem}.rejects.csv")


def import_file(
    source: Path, mapping_file: Path, out: Path, *, skip_invalid: bool = False
) -> ImportSummary:
    """Import ``source`` (CSV) via ``mapping_file`` into the dataset file ``out``."""
    mapping = load_mapping(mapping_file)
    raw = read_source(source, mapping)
    conversion = convert(raw, mapping)
    rejected = conversion.rejected()
    if rejected.any() and not skip_invalid:
        problems, total = violations_to_problems(
            conversion.violations, limit=PROBLEM_LIMIT, column_names=conversion.labels
        )
        if total > len(problems):
            problems.append(Problem("", f"... and {total - len(problems)} more problems"))
        raise DataImportError(
            f"{source}: {int(rejected.sum())} of {len(raw)} rows are invalid, nothing was written"
            " (rows count data rows from 1, after the header; --skip-invalid imports the valid"
            " rows and writes the others to a rejects file)",
            problems,
        )
    write_dataset(conversion.frame[~rejected].reset_index(drop=True), out)
    rejects = None
    if rejected.any():
        rejects = rejects_path(out)
        _write_rejects(raw, conversion, rejected, rejects)
    return ImportSummary(len(raw), int((~rejected).sum()), int(rejected.sum()), out, rejects)


def read_source(path: Path, mapping: ImportMapping) -> pd.DataFrame:
    """Every cell of the CSV ``path`` as text, after checking it has the mapped columns."""
    raw = read_csv_text(path, delimiter=mapping.delimiter, encoding=mapping.encoding)
    _check_header(path, [str(c) for c in raw.columns], mapping)
    if raw.empty:
        raise DataImportError(f"{path}: has a header but no data rows")
    return raw


def _check_header(path: Path, header: list[str], mapping: ImportMapping) -> None:
    problems = []
    for column, where in mapping.columns().items():
        if column not in header:
            listing = ", ".join(repr(h) for h in header)
            problems.append(
                Problem(where, f"column {column!r} is not in {path} (it has {listing})")
            )
        elif header.count(column) > 1:
            problems.append(Problem(where, f"column {column!r} appears more than once in {path}"))
    if problems:
        raise DataImportError(f"{path} does not match the mapping {mapping.path}", problems)


def convert(raw: pd.DataFrame, mapping: ImportMapping) -> Conversion:
    """``raw`` (all text) as dataset columns per ``mapping``, recording every bad cell."""
    result = Conversion(pd.DataFrame(index=raw.index))
    for name in TRANSACTION_COLUMNS:
        source = mapping.fields.get(name)
        if source is not None:
            _convert_field(result, raw, name, source)
    if mapping.attributes:
        columns = [column for column, _ in mapping.attributes.values()]
        result.labels["attributes"] = f"attributes (from {', '.join(columns)})"
        result.frame["attributes"] = result.shown["attributes"] = _attributes(raw, mapping)
    if mapping.label is not None:
        _convert_label(result, raw, mapping.label)
    if mapping.scenario is not None:
        _convert_field(result, raw, SCENARIO_COLUMN, mapping.scenario)
    result.violations += check_frame(result.frame, shown=result.shown, skip=result.bad)
    return result


def _convert_field(
    result: Conversion,
    raw: pd.DataFrame,
    name: str,
    source: ColumnSource | Constant | RowNumber | TimestampSource,
) -> None:
    index = raw.index
    if isinstance(source, Constant):
        result.labels[name] = f"{name} (constant)"
        values = pd.Series(source.value, index=index, dtype=STRING_DTYPE)
        result.frame[name] = result.shown[name] = values
        return
    if isinstance(source, RowNumber):
        result.labels[name] = f"{name} (generated)"
        numbers = pd.Series(np.arange(1, len(index) + 1), index=index).astype(STRING_DTYPE)
        result.frame[name] = result.shown[name] = source.prefix + numbers
        return
    text = raw[source.column]
    result.labels[name] = f"{source.column} ({name})"
    result.shown[name] = text
    if isinstance(source, TimestampSource):
        result.frame[name], failures = _timestamps(text.mask(text == ""), source)
        for failing, problem in failures:
            result.fail(name, failing, problem)
    elif name == "amount":
        result.frame[name], unparsed = parse_amount_text(text.mask(text == ""))
        result.fail(name, unparsed, "is not a number (write it like 1234.56)")
    else:
        result.frame[name], unmapped = _translate(text, source)
        result.fail(
            name,
            unmapped,
            "is not among the mapping's `values` (add it, or set `default` or `keep_unmapped`)",
        )


def _translate(text: pd.Series, source: ColumnSource) -> tuple[pd.Series, BoolArray]:
    """``text`` through the value map and whitespace replacement; empty cells become missing."""
    unmapped = np.zeros(len(text), dtype=bool)
    if source.values is not None:
        known = text.isin(list(source.values)).to_numpy()
        mapped = text.map(source.values).astype(STRING_DTYPE)
        if source.keep_unmapped:
            mapped = mapped.where(known, text)
        elif source.default is not None:
            mapped = mapped.where(known | (text == "").to_numpy(), source.default)
        else:
            unmapped = ~known & (text != "").to_numpy()
        text = mapped.fillna("")
    if source.replace_whitespace is not None:
        text = text.str.strip().str.replace(
            f"{WHITESPACE_CLASS}+", source.replace_whitespace, regex=True
        )
    return text.mask(text == "").astype(STRING_DTYPE), unmapped


def _timestamps(
    text: pd.Series, source: TimestampSource
) -> tuple[pd.Series, list[tuple[BoolArray, str]]]:
    given = text.notna().to_numpy()
    if source.format in UNIX_FORMATS:
        return _unix_times(text, source.format)
    if source.format == "iso8601":
        aware, failures = parse_timestamp_text(text)
        if source.timezone is None:
            return aware, failures
        naive_rows = given & ~has_utc_offset(text) & aware.isna().to_numpy()
        local = pd.to_datetime(text.where(naive_rows), format="ISO8601", errors="coerce")
        unparsed = naive_rows & local.isna().to_numpy()
        failures = [(m & ~naive_rows, p) for m, p in failures]
        failures.append((unparsed, "is not an ISO 8601 timestamp (e.g. 2024-05-01T13:45:00)"))
        localized, failing = _localize(local, source.timezone)
        times, too_fine = to_utc_micros(localized)
        merged = aware.where(~naive_rows, times)
        return merged, [*failures, (failing, _dst_problem(source.timezone)), (too_fine, _FINE)]
    parsed = _strptime(text, source.format)
    failures = [(given & parsed.isna().to_numpy(), f"does not match the format {source.format!r}")]
    if source.timezone is not None and not isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed, failing = _localize(parsed, source.timezone)
        failures.append((failing, _dst_problem(source.timezone)))
    times, too_fine = to_utc_micros(parsed)
    return times, [*failures, (too_fine, _FINE)]


_FINE: Final = "has more than microsecond precision"


def _strptime(text: pd.Series, fmt: str) -> pd.Series:
    aware = "%z" in fmt or "%Z" in fmt
    return pd.to_datetime(text, format=fmt, errors="coerce", utc=aware)


def _localize(naive: pd.Series, timezone: str) -> tuple[pd.Series, BoolArray]:
    """Wall-clock times in ``timezone``; times a DST change skips or repeats are flagged, not
    guessed."""
    local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return local, naive.notna().to_numpy() & local.isna().to_numpy()


def _dst_problem(timezone: str) -> str:
    return f"does not exist or is ambiguous in {timezone} (daylight saving); give a UTC offset"


def _unix_times(text: pd.Series, unit: str) -> tuple[pd.Series, list[tuple[BoolArray, str]]]:
    given = text.notna().to_numpy()
    number = text.str.fullmatch(_UNIX_NUMBER[unit]).to_numpy(dtype=bool)
    micros = np.round(text.where(number).astype("float64").to_numpy() * _UNIX_SCALE[unit])
    in_range = np.abs(np.nan_to_num(micros, nan=0.0)) < _MAX_MICROS
    valid = number & in_range
    moments = np.where(valid, micros, 0).astype(np.int64).astype("datetime64[us]")
    moments[~valid] = np.datetime64("NaT")
    times = pd.Series(moments, index=text.index).dt.tz_localize("UTC")
    decimals = 6 if unit == "unix_s" else 3
    span = "seconds" if unit == "unix_s" else "milliseconds"
    return times, [
        (given & ~number, f"is not a number of {span} since 1970 (at most {decimals} decimals)"),
        (number & ~in_range, "is out of range"),
    ]


def _convert_label(result: Conversion, raw: pd.DataFrame, label: LabelSource) -> None:
    if label.constant is not None or label.column is None:
        result.labels[LABEL_COLUMN] = f"{LABEL_COLUMN} (constant)"
        constant = pd.Series(label.constant or 0, index=raw.index, dtype=LABEL_DTYPE)
        result.frame[LABEL_COLUMN] = result.shown[LABEL_COLUMN] = constant
        return
    text = raw[label.column]
    result.labels[LABEL_COLUMN] = f"{label.column} (label)"
    result.shown[LABEL_COLUMN] = text
    table = label.values if label.values is not None else {"0": 0, "1": 1}
    labels = text.map(table)
    missing = (text == "").to_numpy() & ~labels.notna().to_numpy()
    unknown = labels.isna().to_numpy() & ~missing
    choices = ", ".join(repr(k) for k in table)
    result.fail(LABEL_COLUMN, missing, "is required but missing")
    result.fail(LABEL_COLUMN, unknown, f"is not a label value of the mapping ({choices})")
    result.frame[LABEL_COLUMN] = labels.fillna(0).astype(LABEL_DTYPE)


def _attributes(raw: pd.DataFrame, mapping: ImportMapping) -> pd.Series:
    """One JSON object per row: each mapped column's text (empty cells as null)."""
    combined = pd.Series("{", index=raw.index, dtype=STRING_DTYPE)
    for position, (key, (column, _)) in enumerate(mapping.attributes.items()):
        text = raw[column]
        encoded = {value: json.dumps(value) if value else "null" for value in text.unique()}
        separator = ", " if position else ""
        combined = (
            combined + f"{separator}{json.dumps(key)}: " + text.map(encoded).astype(STRING_DTYPE)
        )
    return combined + "}"


def _write_rejects(
    raw: pd.DataFrame, conversion: Conversion, rejected: BoolArray, path: Path
) -> None:
    """The rejected source rows, each with its row number and every problem found in it."""
    reasons: defaultdict[int, list[str]] = defaultdict(list)
    problems, _ = violations_to_problems(conversion.violations, column_names=conversion.labels)
    for problem in problems:
        row, _, column = problem.location.partition(", ")
        reasons[int(row.removeprefix("row "))].append(f"{column}: {problem.message}")
    rows = np.flatnonzero(rejected)
    report = raw.iloc[rows].copy()
    names = _unused_names(list(raw.columns), ("source_row", "problems"))
    report.insert(0, names[1], ["; ".join(reasons[r + 1]) for r in rows.tolist()])
    report.insert(0, names[0], rows + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    report.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def _unused_names(taken: list[str], wanted: tuple[str, ...]) -> list[str]:
    """``wanted`` names, prefixed with underscores until none clashes with ``taken``."""
    names = list(wanted)
    while any(name in taken for name in names):
        names = [f"_{name}" for name in names]
    return names
