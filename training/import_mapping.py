"""The mapping file that tells ``vigil import`` how a foreign CSV's columns become Vigil fields.

A mapping is YAML, read with ruamel.yaml; every error names ``file:line:col``, unknown keys and
duplicate keys are errors, and every constant, mapped value and default is checked against the
field's rules when the mapping loads (a typo fails once, not on every row). Shape::

    description: free text                       # optional
    source: {delimiter: ",", encoding: utf-8}    # optional
    fields:                                      # a Transaction field -> where its value comes from
      transaction_id: {column: trans_num}        # or {generate: row_number, prefix: "src-"}
      currency: {constant: USD}
      timestamp: {column: ts, format: "%Y-%m-%d %H:%M:%S", timezone: America/New_York}
      channel: {column: kind, values: {web: ecommerce}, default: pos}   # or keep_unmapped: true
      merchant_id: {column: merchant, replace_whitespace: "_"}
      attributes: {city: city_column}            # attribute key -> column (values kept as text)
    label: {column: is_fraud, values: {"yes": 1, "no": 0}}   # optional; or {constant: 0}
    scenario: {column: fraud_type}               # optional; same options as a text field
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from ruamel.yaml.comments import CommentedMap

from config.yaml_source import at, key_at, node_at, read_yaml, unknown_keys, value_at
from core.errors import ConfigError, Problem
from core.models import MAX_ATTRIBUTE_KEY_LENGTH, MAX_ATTRIBUTES
from training.schema import (
    REQUIRED_COLUMNS,
    SCENARIO_COLUMN,
    STRING_DTYPE,
    TRANSACTION_COLUMNS,
    attributes_problem,
    check_frame,
)

UNIX_FORMATS: Final = ("unix_s", "unix_ms")
ISO_FORMAT: Final = "iso8601"
_NOT_CONSTANT: Final = ("transaction_id", "amount", "timestamp")
_TEXT_OPTIONS: Final = frozenset(
    {"column", "values", "default", "keep_unmapped", "replace_whitespace"}
)


@dataclass(frozen=True)
class ColumnSource:
    """A field read from a source column, optionally translated through ``values``."""

    column: str
    where: str
    """``file:line:col`` of the column name in the mapping."""
    values: Mapping[str, str] | None = None
    default: str | None = None
    keep_unmapped: bool = False
    replace_whitespace: str | None = None


@dataclass(frozen=True)
class Constant:
    """The same value on every row."""

    value: str


@dataclass(frozen=True)
class RowNumber:
    """``prefix`` + the row's number in the source file (only for ``transaction_id``)."""

    prefix: str = ""


@dataclass(frozen=True)
class TimestampSource:
    """Event times read with ``format`` (strftime, ``iso8601``, ``unix_s`` or ``unix_ms``);
    times without an offset are local to ``timezone``."""

    column: str
    where: str
    format: str
    timezone: str | None


@dataclass(frozen=True)
class LabelSource:
    """Labels from a column (``0``/``1``, or translated by ``values``) or one constant."""

    column: str | None
    where: str
    values: Mapping[str, int] | None = None
    constant: int | None = None


FieldSource = ColumnSource | Constant | RowNumber | TimestampSource


@dataclass(frozen=True)
class ImportMapping:
    """A loaded, checked mapping."""

    path: Path
    fields: Mapping[str, FieldSource]
    attributes: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Attribute key -> (source column, ``file:line:col``)."""
    label: LabelSource | None = None
    scenario: ColumnSource | None = None
    delimiter: str = ","
    encoding: str = "utf-8"

    def columns(self) -> dict[str, str]:
        """Every source column the mapping reads -> where the mapping names it first."""
        named: dict[str, str] = {}
        sources = [*self.fields.values(), self.scenario]
        for source in sources:
            if isinstance(source, ColumnSource | TimestampSource):
                named.setdefault(source.column, source.where)
        if self.label is not None and self.label.column is not None:
            named.setdefault(self.label.column, self.label.where)
        for column, where in self.attributes.values():
            named.setdefault(column, where)
        return named


def load_mapping(path: Path) -> ImportMapping:
    """Read and check the mapping in ``path``; :class:`ConfigError` lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the import mapping: {exc}") from exc
    document = read_yaml(text, str(path))
    reader = _Reader(path)
    mapping = reader.mapping_file(document)
    if reader.problems or mapping is None:
        raise ConfigError(f"{path} is not a valid import mapping", reader.problems)
    return mapping


class _Reader:
    """Walks the YAML tree, building the mapping and collecting problems with positions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.problems: list[Problem] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def keys(self, node: CommentedMap, allowed: frozenset[str] | set[str], what: str) -> None:
        choices = ", ".join(sorted(allowed))
        self.problems += unknown_keys(
            self.file,
            node,
            allowed,
            lambda key: f"unknown key {key!r} in {what} (allowed: {choices})",
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
            self.fail(
                value_at(self.file, node, key),
                f"{what} must be non-empty text{hint}, got {value!r}",
            )
            return None
        return value

    def mapping_file(self, document: object) -> ImportMapping | None:
        if not isinstance(document, CommentedMap):
            self.fail(
                at(self.file, (0, 0)),
                "the mapping file must be a YAML mapping with a `fields` key",
            )
            return None
        self.keys(document, {"description", "source", "fields", "label", "scenario"}, "the mapping")
        delimiter, encoding = self.source(document)
        if "fields" not in document:
            self.fail(
                node_at(self.file, document),
                "`fields` is required: map each Transaction field to a source",
            )
            return None
        fields_node = self.child(document, "fields", "`fields`")
        if fields_node is None:
            return None
        self.keys(fields_node, set(TRANSACTION_COLUMNS), "`fields`")
        for missing in (c for c in REQUIRED_COLUMNS if c not in fields_node):
            self.fail(node_at(self.file, fields_node), f"`fields.{missing}` is required")
        sources: dict[str, FieldSource] = {}
        for name in (c for c in TRANSACTION_COLUMNS if c in fields_node and c != "attributes"):
            source = self.field(fields_node, name)
            if source is not None:
                sources[name] = source
        attributes = self.attributes(fields_node) if "attributes" in fields_node else {}
        label = self.label(document) if "label" in document else None
        scenario = None
        if "scenario" in document and (node := self.child(document, "scenario", "`scenario`")):
            scenario = self.column_source(node, SCENARIO_COLUMN, _TEXT_OPTIONS)
        return ImportMapping(self.path, sources, attributes, label, scenario, delimiter, encoding)

    def source(self, document: CommentedMap) -> tuple[str, str]:
        if "source" not in document or (node := self.child(document, "source", "`source`")) is None:
            return ",", "utf-8"
        self.keys(node, {"delimiter", "encoding"}, "`source`")
        delimiter = (
            self.text(node, "delimiter", "`source.delimiter`") if "delimiter" in node else ","
        )
        if delimiter is not None and len(delimiter) != 1:
            self.fail(
                value_at(self.file, node, "delimiter"),
                f"`source.delimiter` must be one character, got {delimiter!r}",
            )
        encoding = (
            self.text(node, "encoding", "`source.encoding`") if "encoding" in node else "utf-8"
        )
        if encoding is not None:
            try:
                "".encode(encoding)
            except LookupError:
                self.fail(
                    value_at(self.file, node, "encoding"), f"unknown text encoding {encoding!r}"
                )
        return delimiter or ",", encoding or "utf-8"

    def field(self, fields_node: CommentedMap, name: str) -> FieldSource | None:
        node = self.child(fields_node, name, f"`fields.{name}`")
        if node is None:
            return None
        kinds = [k for k in ("column", "constant", "generate") if k in node]
        if len(kinds) != 1:
            self.fail(
                node_at(self.file, node),
                f"`fields.{name}` needs exactly one of column, constant, generate",
            )
            return None
        if kinds == ["generate"]:
            return self.generated(node, name)
        if kinds == ["constant"]:
            return self.constant(node, name)
        if name in ("timestamp", "amount"):
            return self.timestamp(node) if name == "timestamp" else self.amount(node)
        return self.column_source(node, name, _TEXT_OPTIONS)

    def amount(self, node: CommentedMap) -> ColumnSource | None:
        self.keys(node, {"column"}, "`fields.amount`")
        column = self.text(node, "column", "`fields.amount.column`")
        return None if column is None else ColumnSource(column, value_at(self.file, node, "column"))

    def generated(self, node: CommentedMap, name: str) -> RowNumber | None:
        self.keys(node, {"generate", "prefix"}, f"`fields.{name}`")
        if name != "transaction_id" or node["generate"] != "row_number":
            self.fail(
                value_at(self.file, node, "generate"),
                "only `transaction_id` can be generated, as `row_number`",
            )
            return None
        prefix = node.get("prefix", "")
        if not isinstance(prefix, str):
            self.fail(value_at(self.file, node, "prefix"), f"`prefix` must be text, got {prefix!r}")
            return None
        if prefix and not self.checked(node, "prefix", name, f"{prefix}1"):
            return None
        return RowNumber(prefix)

    def constant(self, node: CommentedMap, name: str) -> Constant | None:
        self.keys(node, {"constant"}, f"`fields.{name}`")
        if name in _NOT_CONSTANT:
            self.fail(
                value_at(self.file, node, "constant"),
                f"`{name}` cannot be a constant; read it from a column",
            )
            return None
        value = self.text(node, "constant", f"`fields.{name}.constant`")
        if value is None or not self.checked(node, "constant", name, value):
            return None
        return Constant(value)

    def column_source(
        self, node: CommentedMap, name: str, allowed: frozenset[str]
    ) -> ColumnSource | None:
        what = f"`fields.{name}`" if name in TRANSACTION_COLUMNS else f"`{name}`"
        self.keys(node, allowed, what)
        column = self.text(node, "column", f"{what}.column")
        values = self.value_map(node, name, what) if "values" in node else None
        default = None
        if "default" in node:
            default = self.text(node, "default", f"{what}.default")
            if default is not None:
                self.checked(node, "default", name, default)
        keep = node.get("keep_unmapped", False)
        if not isinstance(keep, bool):
            self.fail(
                value_at(self.file, node, "keep_unmapped"),
                f"`keep_unmapped` must be true or false, got {keep!r}",
            )
        elif (keep or default is not None) and values is None:
            self.fail(
                node_at(self.file, node), f"{what}: `default` and `keep_unmapped` need `values`"
            )
        elif keep and default is not None:
            self.fail(
                node_at(self.file, node),
                f"{what}: use either `default` or `keep_unmapped`, not both",
            )
        spaces = node.get("replace_whitespace")
        if spaces is not None and not isinstance(spaces, str):
            self.fail(
                value_at(self.file, node, "replace_whitespace"),
                f"`replace_whitespace` must be text, got {spaces!r}",
            )
            spaces = None
        if column is None:
            return None
        return ColumnSource(
            column, value_at(self.file, node, "column"), values, default, bool(keep), spaces
        )

    def value_map(self, node: CommentedMap, name: str, what: str) -> dict[str, str] | None:
        values = self.child(node, "values", f"{what}.values")
        if values is None:
            return None
        result: dict[str, str] = {}
        for key, value in values.items():
            if not isinstance(key, str):
                self.fail(
                    key_at(self.file, values, key),
                    f"source value {key!r} must be written in quotes",
                )
            elif not isinstance(value, str):
                self.fail(
                    value_at(self.file, values, key),
                    f"{what} value for {key!r} must be text in quotes, got {value!r}",
                )
            elif self.checked(values, key, name, value):
                result[key] = value
        return result

    def checked(self, node: CommentedMap, key: str, name: str, value: str) -> bool:
        """Whether ``value`` is valid for field ``name``; a problem at ``node[key]`` if not."""
        if name not in TRANSACTION_COLUMNS and name != SCENARIO_COLUMN:
            return True
        violations = check_frame(pd.DataFrame({name: pd.Series([value], dtype=STRING_DTYPE)}))
        for found in violations:
            self.fail(value_at(self.file, node, key), f"{name} {found.message(0)}")
        return not violations

    def timestamp(self, node: CommentedMap) -> TimestampSource | None:
        self.keys(node, {"column", "format", "timezone"}, "`fields.timestamp`")
        column = self.text(node, "column", "`fields.timestamp.column`")
        fmt = (
            self.text(node, "format", "`fields.timestamp.format`")
            if "format" in node
            else ISO_FORMAT
        )
        zone = (
            self.text(node, "timezone", "`fields.timestamp.timezone`")
            if "timezone" in node
            else None
        )
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                self.fail(
                    value_at(self.file, node, "timezone"),
                    f"unknown timezone {zone!r} (use an IANA name)",
                )
                zone = None
        if fmt is not None and fmt in UNIX_FORMATS and "timezone" in node:
            self.fail(
                value_at(self.file, node, "timezone"),
                f"`{fmt}` times are UTC by definition; remove `timezone`",
            )
        is_strftime = fmt is not None and fmt not in (*UNIX_FORMATS, ISO_FORMAT)
        if is_strftime and fmt is not None and "%" not in fmt:
            self.fail(
                value_at(self.file, node, "format"),
                f"format {fmt!r} must be iso8601, unix_s, unix_ms or strftime",
            )
        elif (
            is_strftime
            and fmt is not None
            and not {"%z", "%Z"} & _directives(fmt)
            and "timezone" not in node
        ):
            self.fail(
                value_at(self.file, node, "format"), "format has no %z, so `timezone` is required"
            )
        if column is None or fmt is None:
            return None
        return TimestampSource(column, value_at(self.file, node, "column"), fmt, zone)

    def label(self, document: CommentedMap) -> LabelSource | None:
        node = self.child(document, "label", "`label`")
        if node is None:
            return None
        self.keys(node, {"column", "values", "constant"}, "`label`")
        if ("column" in node) == ("constant" in node):
            self.fail(node_at(self.file, node), "`label` needs exactly one of column, constant")
            return None
        if "constant" in node:
            if node["constant"] not in (0, 1) or isinstance(node["constant"], bool):
                self.fail(
                    value_at(self.file, node, "constant"),
                    f"`label.constant` must be 0 or 1, got {node['constant']!r}",
                )
                return None
            return LabelSource(
                None, value_at(self.file, node, "constant"), constant=int(node["constant"])
            )
        column = self.text(node, "column", "`label.column`")
        values: dict[str, int] | None = None
        if "values" in node and (given := self.child(node, "values", "`label.values`")) is not None:
            values = {}
            for key, value in given.items():
                if not isinstance(key, str):
                    self.fail(
                        key_at(self.file, given, key),
                        f"source value {key!r} must be written in quotes",
                    )
                elif value not in (0, 1) or isinstance(value, bool):
                    self.fail(
                        value_at(self.file, given, key),
                        f"label for {key!r} must be 0 or 1, got {value!r}",
                    )
                else:
                    values[key] = int(value)
        return (
            None
            if column is None
            else LabelSource(column, value_at(self.file, node, "column"), values)
        )

    def attributes(self, fields_node: CommentedMap) -> dict[str, tuple[str, str]]:
        node = self.child(fields_node, "attributes", "`fields.attributes`")
        if node is None:
            return {}
        result = {}
        for key, column in node.items():
            valid_key = isinstance(key, str) and attributes_problem(json.dumps({key: 0})) is None
            if not valid_key:
                self.fail(
                    key_at(self.file, node, key),
                    f"attribute key {key!r} must be an identifier (letters, digits and _, not"
                    f" starting with a digit) of at most {MAX_ATTRIBUTE_KEY_LENGTH} characters",
                )
            elif not isinstance(column, str) or not column:
                self.fail(
                    value_at(self.file, node, key),
                    f"attribute {key!r} must name a source column, got {column!r}",
                )
            else:
                result[key] = (column, value_at(self.file, node, key))
        if len(result) > MAX_ATTRIBUTES:
            self.fail(
                node_at(self.file, node), f"at most {MAX_ATTRIBUTES} attributes can be mapped"
            )
        return result


def _directives(fmt: str) -> set[str]:
    return {fmt[i : i + 2] for i in range(len(fmt) - 1) if fmt[i] == "%"}


__all__ = [
    "ColumnSource",
    "Constant",
    "FieldSource",
    "ImportMapping",
    "LabelSource",
    "RowNumber",
    "TimestampSource",
    "load_mapping",
]
