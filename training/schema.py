"""What a valid Vigil dataset is: its columns, their dtypes and its per-row rules (vectorized).

A dataset holds one row per transaction with the fields of :class:`core.models.Transaction`, plus
an optional ``label`` (0/1), ``scenario`` (``"legit"`` for legitimate rows) and ``label_known_at``
(when the label became known, e.g. the chargeback date; empty means "event time + the label delay
training is given", see :mod:`training.labels`). The rules here are
the Transaction rules applied to whole columns at once, so a row that passes would also pass as a
``Transaction``. Checks report :class:`Violation` s (a column and the failing row positions);
:func:`violations_to_problems` turns them into :class:`core.errors.Problem` s, capped for display.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.codes import country_codes, currency_codes
from core.errors import Problem
from core.models import (
    MAX_AMOUNT,
    MAX_AMOUNT_DECIMALS,
    MAX_ATTRIBUTE_KEY_LENGTH,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_ATTRIBUTES,
    Channel,
)

TRANSACTION_COLUMNS: Final = (
    "transaction_id",
    "account_id",
    "amount",
    "currency",
    "timestamp",
    "merchant_id",
    "merchant_category",
    "country",
    "channel",
    "device_id",
    "ip_address",
    "attributes",
)
"""The Transaction fields, in the order a dataset file lists them."""
LABEL_COLUMN: Final = "label"
SCENARIO_COLUMN: Final = "scenario"
LEGIT_SCENARIO: Final = "legit"
"""The ``scenario`` of every legitimate (label 0) row."""
LABEL_KNOWN_AT_COLUMN: Final = "label_known_at"
"""Optional: when the row's label became known (UTC, never before the event time)."""
ALL_COLUMNS: Final = (*TRANSACTION_COLUMNS, LABEL_COLUMN, SCENARIO_COLUMN, LABEL_KNOWN_AT_COLUMN)
NULLABLE_TRANSACTION_COLUMNS: Final = ("device_id", "ip_address", "attributes")
REQUIRED_COLUMNS: Final = tuple(
    c for c in TRANSACTION_COLUMNS if c not in NULLABLE_TRANSACTION_COLUMNS
)
STRING_DTYPE: Final = "str"
"""pandas' default text dtype (missing values are NaN); keeps leading zeros of MCCs."""
AMOUNT_DTYPE: Final = "float64"
TIMESTAMP_DTYPE: Final = "datetime64[us, UTC]"
"""Event times in UTC at microsecond resolution, exactly what a Python datetime can hold."""
LABEL_DTYPE: Final = "int8"
COLUMN_DTYPES: Final[Mapping[str, str]] = {
    **dict.fromkeys(ALL_COLUMNS, STRING_DTYPE),
    "amount": AMOUNT_DTYPE,
    "timestamp": TIMESTAMP_DTYPE,
    LABEL_COLUMN: LABEL_DTYPE,
    LABEL_KNOWN_AT_COLUMN: TIMESTAMP_DTYPE,
}
TIMESTAMP_COLUMNS: Final = ("timestamp", LABEL_KNOWN_AT_COLUMN)
IDENTIFIER_COLUMNS: Final = ("transaction_id", "account_id", "merchant_id", "device_id")
MAX_IDENTIFIER_LENGTH: Final = 128
MAX_IP_ADDRESS_LENGTH: Final = 45
MAX_SCENARIO_LENGTH: Final = 64
CHANNELS: Final = frozenset(channel.value for channel in Channel)

_IPV4_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"({_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}"
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_]\w*$")
_SHOWN_VALUE_LENGTH = 60
_FIRST_MICROS: Final = int(np.datetime64("0001-01-01T00:00:00", "us").astype(np.int64))
_END_MICROS: Final = int(np.datetime64("10000-01-01T00:00:00", "us").astype(np.int64))

Positions = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Violation:
    """The rows (0-based positions) where ``column`` breaks one rule, with the offending values.

    ``problem`` is the message, or a function of the index into ``positions`` when each row's
    message differs (duplicates name the row they repeat).
    """

    column: str
    positions: Positions
    values: npt.NDArray[Any]
    problem: str | Callable[[int], str]

    def message(self, index: int) -> str:
        """The problem of the ``index``-th failing row, with its value."""
        text = self.problem if isinstance(self.problem, str) else self.problem(index)
        return f"{text} (got {_show(self.values[index])})"


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nothing"
    shown = repr(value)
    return shown if len(shown) <= _SHOWN_VALUE_LENGTH else shown[: _SHOWN_VALUE_LENGTH - 3] + "..."


def violation(column: str, failing: BoolArray, shown: pd.Series, problem: str) -> Violation | None:
    """A :class:`Violation` for the ``failing`` rows of ``column`` (``None`` when none fail)."""
    positions = np.flatnonzero(failing)
    if positions.size == 0:
        return None
    return Violation(column, positions, shown.to_numpy(dtype=object)[positions], problem)


WHITESPACE_CHARACTERS: Final = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Every character Python's ``\\s`` matches (what an Identifier of core.models may not contain)."""
WHITESPACE_CLASS: Final = f"[{WHITESPACE_CHARACTERS}\x00]"
"""A regex class of whitespace and NUL that means the same to Python's re and to Arrow's RE2."""


def check_frame(
    frame: pd.DataFrame,
    *,
    shown: Mapping[str, pd.Series] | None = None,
    skip: Mapping[str, BoolArray] | None = None,
) -> list[Violation]:
    """Every row-level rule broken in ``frame``, whose present columns have the canonical dtypes.

    ``shown`` gives, per column, the values to quote in messages (the raw text a file held);
    ``skip`` masks cells already reported (e.g. unparseable text), so they are not reported twice.
    """
    found: list[Violation | None] = []
    for column in frame.columns:
        values = frame[column]
        display = shown[column] if shown is not None and column in shown else values
        bad = skip[column] if skip is not None and column in skip else np.zeros(len(frame), bool)
        missing = values.isna().to_numpy() & ~bad
        present = ~values.isna().to_numpy()
        if column in REQUIRED_COLUMNS or column == LABEL_COLUMN:
            found.append(violation(column, missing, display, "is required but missing"))
        for failing, problem in _column_rules(str(column), values, present):
            found.append(violation(str(column), failing & present & ~bad, display, problem))
    if "transaction_id" in frame.columns:
        found.append(_duplicates(frame["transaction_id"]))
    if LABEL_COLUMN in frame.columns and SCENARIO_COLUMN in frame.columns:
        found.extend(_label_scenario_mismatch(frame, shown, skip))
    if "timestamp" in frame.columns and LABEL_KNOWN_AT_COLUMN in frame.columns:
        found.append(_known_before_event(frame, shown))
    return [v for v in found if v is not None]


def _column_rules(
    column: str, values: pd.Series, present: BoolArray
) -> list[tuple[BoolArray, str]]:
    rules: list[tuple[BoolArray, str]] = []
    if column in IDENTIFIER_COLUMNS:
        text = values.fillna("")
        rules.append(((text.str.len() == 0).to_numpy(), "must not be empty"))
        too_long = (text.str.len() > MAX_IDENTIFIER_LENGTH).to_numpy()
        rules.append((too_long, f"must be at most {MAX_IDENTIFIER_LENGTH} characters"))
        spaced = text.str.contains(WHITESPACE_CLASS, regex=True).to_numpy(dtype=bool)
        rules.append((spaced, "must not contain whitespace"))
    elif column == "amount":
        rules.extend(_amount_rules(values.to_numpy(dtype=np.float64)))
    elif column in TIMESTAMP_COLUMNS:
        micros = values.dt.tz_localize(None).to_numpy(dtype="datetime64[us]").view(np.int64)
        outside = (micros < _FIRST_MICROS) | (micros >= _END_MICROS)
        rules.append((outside, "must be between the years 1 and 9999"))
    elif column == "currency":
        unknown = ~values.isin(currency_codes()).to_numpy()
        rules.append((unknown, "is not an ISO 4217 currency code (upper case, e.g. EUR)"))
    elif column == "country":
        unknown = ~values.isin(country_codes()).to_numpy()
        rules.append((unknown, "is not an ISO 3166-1 alpha-2 country code (upper case, e.g. DE)"))
    elif column == "merchant_category":
        mcc = values.str.fullmatch(r"[0-9]{4}").to_numpy(dtype=bool)
        rules.append((~mcc, "must be a 4-digit merchant category code, leading zeros kept"))
    elif column == "channel":
        choices = ", ".join(sorted(CHANNELS))
        rules.append((~values.isin(CHANNELS).to_numpy(), f"must be one of {choices}"))
    elif column == "ip_address":
        rules.append((_bad_ip_addresses(values, present), "is not an IPv4 or IPv6 address"))
    elif column == "attributes":
        rules.extend(_attribute_rules(values, present))
    elif column == LABEL_COLUMN:
        rules.append((~values.isin((0, 1)).to_numpy(), "must be 0 or 1"))
    elif column == SCENARIO_COLUMN:
        length = values.fillna("").str.len().to_numpy()
        rules.append((length == 0, "must not be empty"))
        rules.append((length > MAX_SCENARIO_LENGTH, f"must be at most {MAX_SCENARIO_LENGTH} chars"))
    return rules


def _amount_rules(amount: npt.NDArray[np.float64]) -> list[tuple[BoolArray, str]]:
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(amount)
        scaled = amount * 10.0**MAX_AMOUNT_DECIMALS
        # A value with at most 4 decimals lands within a few ulps of an integer once scaled.
        off_grid = np.abs(scaled - np.rint(scaled)) > 4 * np.spacing(np.abs(scaled))
        return [
            (~finite, "must be a finite number"),
            (finite & (amount < 0), "must be 0 or more"),
            (finite & (amount > float(MAX_AMOUNT)), f"must be at most {MAX_AMOUNT}"),
            (
                finite & (amount >= 0) & off_grid,
                f"must have at most {MAX_AMOUNT_DECIMALS} decimal places",
            ),
        ]


def _bad_ip_addresses(values: pd.Series, present: BoolArray) -> BoolArray:
    text = values.fillna("")
    looks_v4 = text.str.fullmatch(_IPV4).to_numpy(dtype=bool)
    others = present & ~looks_v4
    bad = (text.str.len() > MAX_IP_ADDRESS_LENGTH).to_numpy() & present
    if others.any():
        candidates = text[others]
        verdict = {value: not _is_ip_address(value) for value in candidates.unique()}
        bad[others] |= candidates.map(verdict).to_numpy(dtype=bool)
    return bad


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _attribute_rules(values: pd.Series, present: BoolArray) -> list[tuple[BoolArray, str]]:
    """Each distinct attributes text is checked once; the verdict is spread back to its rows."""
    rules: list[tuple[BoolArray, str]] = []
    if not present.any():
        return rules
    texts = values[present]
    verdicts = {text: attributes_problem(text) for text in texts.unique()}
    for problem in sorted({p for p in verdicts.values() if p is not None}):
        failing = np.zeros(len(values), dtype=bool)
        failing[present] = texts.map(lambda t, p=problem: verdicts[t] == p).to_numpy(dtype=bool)
        rules.append((failing, problem))
    return rules


def attributes_problem(text: str) -> str | None:
    """What is wrong with one ``attributes`` JSON text, or ``None`` when it is a valid map."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return "is not valid JSON"
    if not isinstance(parsed, dict):
        return "must be a JSON object"
    if len(parsed) > MAX_ATTRIBUTES:
        return f"must have at most {MAX_ATTRIBUTES} keys"
    problems = (_attribute_problem(key, value) for key, value in parsed.items())
    return next((p for p in problems if p is not None), None)


def _attribute_problem(key: str, value: object) -> str | None:
    if len(key) > MAX_ATTRIBUTE_KEY_LENGTH or not _ATTRIBUTE_KEY.match(key):
        return f"key {key!r} must be an identifier of at most {MAX_ATTRIBUTE_KEY_LENGTH} chars"
    if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_VALUE_LENGTH:
        return f"value of {key!r} must be at most {MAX_ATTRIBUTE_VALUE_LENGTH} characters"
    if isinstance(value, float) and not math.isfinite(value):
        return f"value of {key!r} must be a finite number"
    if value is not None and not isinstance(value, str | int | float | bool):
        return f"value of {key!r} must be text, a number, true/false or null"
    return None


def _duplicates(ids: pd.Series) -> Violation | None:
    """Every occurrence of an id after its first, naming the row of the first."""
    codes, _ = pd.factorize(ids)  # codes number distinct ids in order of first appearance
    valid = np.flatnonzero(codes >= 0)
    _, first_index = np.unique(codes[valid], return_index=True)
    first_position = valid[first_index]
    repeated = codes >= 0
    repeated[first_position] = False
    positions = np.flatnonzero(repeated)
    if positions.size == 0:
        return None
    first_rows = first_position[codes[positions]] + 1
    return Violation(
        "transaction_id",
        positions,
        ids.to_numpy(dtype=object)[positions],
        lambda i: f"duplicates the transaction_id of row {first_rows[i]}",
    )


def _label_scenario_mismatch(
    frame: pd.DataFrame,
    shown: Mapping[str, pd.Series] | None,
    skip: Mapping[str, BoolArray] | None,
) -> list[Violation | None]:
    label = (
        frame[LABEL_COLUMN].where(~skip[LABEL_COLUMN])
        if skip and LABEL_COLUMN in skip
        else frame[LABEL_COLUMN]
    )
    scenario = frame[SCENARIO_COLUMN]
    legit = (scenario == LEGIT_SCENARIO).to_numpy(dtype=bool)
    named = scenario.notna().to_numpy()
    display = shown[SCENARIO_COLUMN] if shown and SCENARIO_COLUMN in shown else scenario
    fraud_as_legit = (label == 1).to_numpy(dtype=bool) & legit
    legit_as_fraud = (label == 0).to_numpy(dtype=bool) & named & ~legit
    return [
        violation(SCENARIO_COLUMN, fraud_as_legit, display, "is 'legit' but the label is 1"),
        violation(SCENARIO_COLUMN, legit_as_fraud, display, "must be 'legit' when the label is 0"),
    ]


def _known_before_event(
    frame: pd.DataFrame, shown: Mapping[str, pd.Series] | None
) -> Violation | None:
    """A label cannot be known before its transaction happened."""
    known = frame[LABEL_KNOWN_AT_COLUMN]
    early = (known.notna() & frame["timestamp"].notna() & (known < frame["timestamp"])).to_numpy()
    display = shown[LABEL_KNOWN_AT_COLUMN] if shown and LABEL_KNOWN_AT_COLUMN in shown else known
    return violation(LABEL_KNOWN_AT_COLUMN, early, display, "is before the row's timestamp")


def _column_rank(column: str) -> int:
    return ALL_COLUMNS.index(column) if column in ALL_COLUMNS else len(ALL_COLUMNS)


def violations_to_problems(
    violations: Sequence[Violation],
    *,
    limit: int | None = None,
    row_numbers: npt.NDArray[np.int64] | None = None,
    column_names: Mapping[str, str] | None = None,
) -> tuple[list[Problem], int]:
    """The first ``limit`` problems ordered by row, and how many there are in all.

    ``row_numbers`` maps positions to the row numbers users see (default: position + 1);
    ``column_names`` renames columns (e.g. to the source file's column behind a field).
    """
    total = sum(len(v.positions) for v in violations)
    if not violations:
        return [], 0
    positions = np.concatenate([v.positions for v in violations])
    which = np.concatenate([np.full(len(v.positions), i) for i, v in enumerate(violations)])
    index = np.concatenate([np.arange(len(v.positions)) for v in violations])
    rank = np.array([_column_rank(v.column) for v in violations])[which]
    order = np.lexsort((which, rank, positions))[: total if limit is None else limit]
    problems = []
    for k in order:
        found = violations[which[k]]
        row = int(positions[k]) + 1 if row_numbers is None else int(row_numbers[positions[k]])
        name = column_names.get(found.column, found.column) if column_names else found.column
        problems.append(Problem(f"row {row}, column {name}", found.message(int(index[k]))))
    return problems, total
