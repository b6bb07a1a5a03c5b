"""The mapping that tells ``vigil labels import`` how a chargeback or dispute file's columns become
labels; like ``vigil import``'s mapping, read with positions (every error names ``file:line:col``;
unknown and duplicate keys are errors; constants and mapped values are checked when it loads).

Shape::

    description: free text                                # optional
    source: {delimiter: ";", encoding: latin-1}           # optional, CSV files only
    fields:
      transaction_id: {column: txn_ref}
      label: {column: reason, values: {"4837": fraud, "REV": legit}}   # or {constant: fraud}
      known_at: {column: cb_date, format: "%d/%m/%Y", timezone: Europe/Paris}
      source: {constant: chargeback}                      # optional (default: import)

``label`` cells (after ``values``) must read ``fraud`` or ``legit`` (any case). ``known_at`` is
read as ``iso8601`` (the default), ``unix_s``, ``unix_ms`` or a strftime format; a time without
an offset is local to ``timezone`` (an error without one); ``{constant: "2026-03-01T00:00:00Z"}``
gives every row the same time. ``source`` may also come from a column (with ``values``).

Without a mapping file, :data:`DEFAULT_MAPPING` reads the canonical columns ``transaction_id``,
``label``, ``known_at`` (ISO 8601 with an offset) and, when the file has it, ``source``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from ruamel.yaml.comments import CommentedMap

from config.yaml_source import node_at, read_yaml, unknown_keys, value_at
from core.alerts import AlertLabel
from core.errors import ConfigError, Problem
from core.labels import LabelSource, LabelSourceName

ISO_FORMAT: Final = "iso8601"
UNIX_FORMATS: Final = ("unix_s", "unix_ms")
FIELDS: Final = ("transaction_id", "label", "known_at", "source")
_REQUIRED: Final = ("transaction_id", "label", "known_at")


@dataclass(frozen=True)
class Column:
    """A field read from a column, optionally translated through ``values``."""

    column: str
    where: str
    """``file:line:col`` of the column name in the mapping (the file itself by default)."""
    values: Mapping[str, str] | None = None
    optional: bool = False
    """The file need not have the column (the default mapping's ``source``)."""


@dataclass(frozen=True)
class Constant:
    """The same value on every row."""

    value: str


@dataclass(frozen=True)
class TimeColumn:
    """``known_at`` read with ``format``; times without an offset are local to ``timezone``."""

    column: str
    where: str
    format: str = ISO_FORMAT
    timezone: str | None = None


@dataclass(frozen=True)
class LabelMapping:
    """A loaded, checked mapping."""

    path: Path | None
    """The mapping file; ``None`` for the default mapping."""
    transaction_id: Column
    label: Column | Constant
    known_at: TimeColumn | datetime
    source: Column | Constant
    delimiter: str = ","
    encoding: str = "utf-8"

    def columns(self) -> dict[str, Column | TimeColumn]:
        """Every column the mapping reads, by the field it feeds."""
        read = {
            "transaction_id": self.transaction_id,
            "label": self.label,
            "known_at": self.known_at,
            "source": self.source,
        }
        return {name: s for name, s in read.items() if isinstance(s, Column | TimeColumn)}


DEFAULT_MAPPING: Final = LabelMapping(
    path=None,
    transaction_id=Column("transaction_id", "the default mapping"),
    label=Column("label", "the default mapping"),
    known_at=TimeColumn("known_at", "the default mapping"),
    source=Column("source", "the default mapping", optional=True),
)
"""The canonical columns: ``transaction_id,label,known_at[,source]``."""


def load_label_mapping(path: Path) -> LabelMapping:
    """Read and check the mapping in ``path``; :class:`ConfigError` lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the label mapping: {exc}") from exc
    reader = _Reader(path)
    mapping = reader.document(read_yaml(text, str(path)))
    if reader.problems or mapping is None:
        raise ConfigError(f"{path} is not a valid label mapping", reader.problems)
    return mapping


def label_value(text: str) -> AlertLabel | None:
    """``fraud`` or ``legit`` in any case and surrounding space; ``None`` for anything else."""
    try:
        return AlertLabel(text.strip().lower())
    except ValueError:
        return None


def source_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a label source name, if anything."""
    try:
        msgspec.convert(text, LabelSourceName)
    except msgspec.ValidationError:
        return (
            f"{text!r} is not a source name (1 to 32 characters: lower-case letters, digits, "
            "_ and -, starting with a letter)"
        )
    return None


def parse_time(text: str, fmt: str, timezone: str | None) -> datetime:
    """``text`` as an aware time per ``fmt``; :class:`ValueError` saying what is wrong."""
    if fmt in UNIX_FORMATS:
        seconds = float(text) / (1000 if fmt == "unix_ms" else 1)
        return datetime.fromtimestamp(seconds, tz=ZoneInfo("UTC"))
    parsed = (
        datetime.fromisoformat(text) if fmt == ISO_FORMAT else datetime.strptime(text, fmt)  # noqa: DTZ007 - the zone is applied just below
    )
    if parsed.tzinfo is not None:
        return parsed
    if timezone is None:
        raise ValueError("has no UTC offset; write one, or set `timezone` in the mapping")
    return parsed.replace(tzinfo=ZoneInfo(timezone))


class _Reader:
    """Walks the YAML tree, building the mapping and collecting positioned problems."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.problems: list[Problem] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def keys(self, node: CommentedMap, allowed: set[str], what: str) -> None:
        choices = ", ".join(sorted(allowed))
        self.problems += unknown_keys(
            self.file, node, allowed, lambda key: f"unknown key {key!r} in {what} ({choices})"
        )

    def child(self, node: CommentedMap, key: str, what: str) -> CommentedMap | None:
        value = node.get(key)
        if not isinstance(value, CommentedMap):
            self.fail(value_at(self.file, node, key), f"{what} must be a mapping of keys to values")
            return None
        return value

    def text(self, node: CommentedMap, key: str, what: str) -> str | None:
        value = node.get(key)
        if not isinstance(value, str) or not value:
            hint = " (write it in quotes)" if isinstance(value, int | float) else ""
            self.fail(value_at(self.file, node, key), f"{what} must be text{hint}, got {value!r}")
            return None
        return value

    def document(self, document: object) -> LabelMapping | None:
        if not isinstance(document, CommentedMap) or "fields" not in document:
            where = (
                node_at(self.file, document) if isinstance(document, CommentedMap) else self.file
            )
            self.fail(where, "the mapping must be a YAML mapping with a `fields` key")
            return None
        self.keys(document, {"description", "source", "fields"}, "the mapping")
        delimiter, encoding = self.file_options(document)
        fields = self.child(document, "fields", "`fields`")
        if fields is None:
            return None
        self.keys(fields, set(FIELDS), "`fields`")
        for missing in (name for name in _REQUIRED if name not in fields):
            self.fail(node_at(self.file, fields), f"`fields.{missing}` is required")
        transaction_id = self.column(fields, "transaction_id", constant=False)
        label = self.column(fields, "label")
        known_at = self.known_at(fields) if "known_at" in fields else None
        source: Column | Constant | None = Constant(LabelSource.IMPORT.value)
        if "source" in fields:
            source = self.column(fields, "source")
        if (
            not isinstance(transaction_id, Column)
            or label is None
            or known_at is None
            or source is None
        ):
            return None
        return LabelMapping(self.path, transaction_id, label, known_at, source, delimiter, encoding)

    def file_options(self, document: CommentedMap) -> tuple[str, str]:
        if "source" not in document or (node := self.child(document, "source", "`source`")) is None:
            return ",", "utf-8"
        self.keys(node, {"delimiter", "encoding"}, "`source`")
        delimiter = (
            self.text(node, "delimiter", "`source.delimiter`") if "delimiter" in node else ","
        )
        if delimiter is not None and len(delimiter) != 1:
            self.fail(
                value_at(self.file, node, "delimiter"), "`source.delimiter` must be 1 character"
            )
        encoding = (
            self.text(node, "encoding", "`source.encoding`") if "encoding" in node else "utf-8"
        )
        if encoding is not None:
            try:
                "".encode(encoding)
            except LookupError:
                self.fail(value_at(self.file, node, "encoding"), f"unknown encoding {encoding!r}")
        return delimiter or ",", encoding or "utf-8"

    def column(
        self, fields: CommentedMap, name: str, *, constant: bool = True
    ) -> Column | Constant | None:
        node = self.child(fields, name, f"`fields.{name}`")
        if node is None:
            return None
        kinds = [k for k in ("column", "constant") if k in node]
        if len(kinds) != 1 or (kinds == ["constant"] and not constant):
            choices = "column or constant" if constant else "column"
            self.fail(node_at(self.file, node), f"`fields.{name}` needs exactly one {choices}")
            return None
        if kinds == ["constant"]:
            self.keys(node, {"constant"}, f"`fields.{name}`")
            value = self.text(node, "constant", f"`fields.{name}.constant`")
            if value is None or not self.valid(node, "constant", name, value):
                return None
            return Constant(_canonical(name, value))
        self.keys(
            node,
            {"column", "values"} if name != "transaction_id" else {"column"},
            f"`fields.{name}`",
        )
        column = self.text(node, "column", f"`fields.{name}.column`")
        values = self.values(node, name) if "values" in node else None
        if column is None:
            return None
        return Column(column, value_at(self.file, node, "column"), values)

    def values(self, node: CommentedMap, name: str) -> dict[str, str] | None:
        given = self.child(node, "values", f"`fields.{name}.values`")
        if given is None:
            return None
        result: dict[str, str] = {}
        for key, value in given.items():
            if not isinstance(key, str):
                self.fail(value_at(self.file, given, key), f"source value {key!r} must be quoted")
            elif not isinstance(value, str):
                self.fail(value_at(self.file, given, key), f"{name} for {key!r} must be text")
            elif self.valid(given, key, name, value):
                result[key] = _canonical(name, value)
        return result

    def valid(self, node: CommentedMap, key: str, name: str, value: str) -> bool:
        """Whether ``value`` is a valid ``name``; a problem at ``node[key]`` if not."""
        if name == "label" and label_value(value) is None:
            self.fail(
                value_at(self.file, node, key), f"label must be fraud or legit, not {value!r}"
            )
            return False
        problem = source_problem(value) if name == "source" else None
        if problem is not None:
            self.fail(value_at(self.file, node, key), problem)
        return problem is None

    def known_at(self, fields: CommentedMap) -> TimeColumn | datetime | None:
        node = self.child(fields, "known_at", "`fields.known_at`")
        if node is None:
            return None
        if "constant" in node:
            self.keys(node, {"constant"}, "`fields.known_at`")
            value = self.text(node, "constant", "`fields.known_at.constant`")
            try:
                return None if value is None else parse_time(value, ISO_FORMAT, None)
            except ValueError as exc:
                self.fail(value_at(self.file, node, "constant"), f"not an ISO 8601 time: {exc}")
                return None
        self.keys(node, {"column", "format", "timezone"}, "`fields.known_at`")
        column = self.text(node, "column", "`fields.known_at.column`")
        fmt = (
            self.text(node, "format", "`fields.known_at.format`")
            if "format" in node
            else ISO_FORMAT
        )
        zone = (
            self.text(node, "timezone", "`fields.known_at.timezone`")
            if "timezone" in node
            else None
        )
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                self.fail(value_at(self.file, node, "timezone"), f"unknown timezone {zone!r}")
        if fmt is not None and fmt not in (ISO_FORMAT, *UNIX_FORMATS) and "%" not in fmt:
            self.fail(
                value_at(self.file, node, "format"),
                f"format {fmt!r} must be iso8601, unix_s, unix_ms or a strftime format",
            )
        if fmt in UNIX_FORMATS and zone is not None:
            self.fail(value_at(self.file, node, "timezone"), f"`{fmt}` times are UTC; remove it")
        if column is None or fmt is None:
            return None
        return TimeColumn(column, value_at(self.file, node, "column"), fmt, zone)


def _canonical(name: str, value: str) -> str:
    """A valid ``value`` of field ``name`` as stored: labels in lower case."""
    label = label_value(value) if name == "label" else None
    return value if label is None else label.value
