"""Read one rule file: YAML with positions (ruamel.yaml) into strict :class:`RuleSpec` Structs.

Every problem is reported at its ``file:line:col`` (1-based) with the rule it belongs to:
YAML syntax errors, duplicate keys, unknown keys, missing keys and wrong values. A file is read
completely, so one pass reports every bad rule in it (the first problem of each rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from config.yaml_source import (
    at,
    error_position,
    item_at,
    key_at,
    load_yaml,
    node_at,
    plain,
    value_at,
)
from core.errors import Problem
from rules.positions import locate_in_scalar
from rules.schema import FIELD_HINTS, RuleFileSpec, RuleSpec

_AT: Final = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_SEGMENT: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_UNKNOWN_FIELD: Final = re.compile(r"unknown field `([^`]+)`")
_MISSING_FIELD: Final = re.compile(r"missing required field `([^`]+)`")


@dataclass(frozen=True, slots=True)
class ParsedRule:
    """A rule that matched the schema, with where it came from."""

    spec: RuleSpec
    label: str
    """The file as named in messages."""
    id_position: tuple[int, int]
    """0-based position of the ``id`` value."""
    when_start: tuple[int, int]
    """0-based position of the ``when`` value node, as ruamel.yaml reports it."""
    lines: tuple[str, ...]

    @property
    def location(self) -> str:
        """``file:line:col`` of the rule's id."""
        return at(self.label, self.id_position)

    def locate_in_when(self, line: int, column: int) -> str:
        """``file:line:col`` of a 1-based position inside the ``when`` expression."""
        file_line, file_column = locate_in_scalar(
            self.lines, self.when_start, self.spec.when, (line, column)
        )
        return f"{self.label}:{file_line}:{file_column}"


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The rules of one file that matched the schema, and every problem found."""

    rules: list[ParsedRule]
    problems: list[Problem]


def parse_rule_file(label: str, text: str) -> ParsedFile:
    """Parse the text of one rule file named ``label`` in messages."""
    try:
        document = load_yaml(text)
    except DuplicateKeyError as exc:
        return ParsedFile([], [_yaml_problem(label, exc, _rule_at(text, exc))])
    except MarkedYAMLError as exc:
        return ParsedFile([], [_yaml_problem(label, exc, _last_rule_before(text, exc))])
    except YAMLError as exc:  # errors without a position
        return ParsedFile([], [Problem(f"{label}:1:1", f"YAML error: {exc}")])
    if not isinstance(document, CommentedMap):
        kind = "an empty file" if document is None else f"a {type(document).__name__}"
        message = f"expected a mapping with a `rules` list, got {kind}"
        return ParsedFile([], [Problem(f"{label}:1:1", message)])
    try:
        msgspec.convert(plain(document), RuleFileSpec, strict=True)
    except msgspec.ValidationError as exc:
        return ParsedFile([], [_validation_problem(label, document, str(exc), None)])
    lines = tuple(text.splitlines())
    items: CommentedSeq = document["rules"]
    parsed = ParsedFile(rules=[], problems=[])
    for index, item in enumerate(items):
        name = _rule_name(item, index)
        if not isinstance(item, CommentedMap):
            message = f"rule {name}: expected a mapping of rule fields"
            parsed.problems.append(Problem(item_at(label, items, index), message))
            continue
        try:
            spec = msgspec.convert(plain(item), RuleSpec, strict=True)
        except msgspec.ValidationError as exc:
            parsed.problems.append(_validation_problem(label, item, str(exc), name))
            continue
        position = item.lc.value("id")
        parsed.rules.append(ParsedRule(spec, label, position, item.lc.value("when"), lines))
    return parsed


def _rule_name(item: object, index: int) -> str:
    """The rule's id as written, or ``#n`` (1-based within the file) when it has none."""
    if isinstance(item, CommentedMap):
        rule_id = item.get("id")
        if isinstance(rule_id, str) and rule_id.strip():
            return rule_id
    return f"#{index + 1}"


def _yaml_problem(label: str, exc: MarkedYAMLError, rule: str | None) -> Problem:
    """A duplicate key names its rule; a syntax error names the last rule read before it."""
    message = str(exc.problem or exc.context or "invalid YAML")
    if exc.problem and exc.context:
        message = f"{exc.problem} ({exc.context})"
    if isinstance(exc, DuplicateKeyError):
        text = f"rule {rule}: {message}" if rule else message
    else:
        after = f" (last rule read: {rule})" if rule else ""
        text = f"YAML syntax error{after}: {message}"
    return Problem(at(label, error_position(exc) or (0, 0)), text)


def _last_rule_before(text: str, exc: MarkedYAMLError) -> str | None:
    """The id of the last rule in the lines before a syntax error, if they parse."""
    position = error_position(exc)
    if position is None or position[0] == 0:
        return None
    prefix = "\n".join(text.splitlines()[: position[0]]) + "\n"
    try:
        document = load_yaml(prefix, allow_duplicate_keys=True)
    except YAMLError:
        return None
    items = document.get("rules") if isinstance(document, CommentedMap) else None
    if not isinstance(items, CommentedSeq) or not items:
        return None
    return _rule_name(items[-1], len(items) - 1)


def _rule_at(text: str, exc: MarkedYAMLError) -> str | None:
    """The rule holding a duplicate key, read again with duplicates allowed."""
    mark = exc.problem_mark
    try:
        document = load_yaml(text, allow_duplicate_keys=True)
    except YAMLError:
        return None
    items = document.get("rules") if isinstance(document, CommentedMap) else None
    if mark is None or not isinstance(items, CommentedSeq):
        return None
    found = None
    for index, item in enumerate(items):
        if items.lc.item(index)[0] <= mark.line:
            found = _rule_name(item, index)
    return found


def _validation_problem(label: str, node: CommentedMap, error: str, rule: str | None) -> Problem:
    """A msgspec error (``... - at `$.a[0].b```) placed at the YAML node it names."""
    match = _AT.match(error)
    message = match.group("message") if match else error
    path = _SEGMENT.findall(match.group("path") or "") if match else []
    where = node_at(label, node)
    field: str | None = None
    target: Any = node
    for key, index in path:
        if isinstance(target, CommentedMap) and key in target:
            where = value_at(label, target, key)
            target, field = target[key], key
        elif isinstance(target, CommentedSeq) and index and int(index) < len(target):
            where = item_at(label, target, int(index))
            target = target[int(index)]
        else:
            break
    unknown = _UNKNOWN_FIELD.search(message)
    missing = _MISSING_FIELD.search(message)
    allowed = RuleSpec.__struct_fields__ if rule else RuleFileSpec.__struct_fields__
    if unknown and isinstance(target, CommentedMap) and unknown.group(1) in target:
        where = key_at(label, target, unknown.group(1))
        message = f"unknown key `{unknown.group(1)}` (allowed: {', '.join(allowed)})"
    elif missing:
        message = f"missing key `{missing.group(1)}`"
    elif field is not None:
        hint = FIELD_HINTS.get(field) if rule else None
        message = f"`{field}`: {message}" + (f"; must be {hint}" if hint else "")
    prefix = f"rule {rule}: " if rule else ""
    return Problem(where, f"{prefix}{message}")
