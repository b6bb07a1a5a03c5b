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
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

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
        line, column = self.id_position
        return f"{self.label}:{line + 1}:{column + 1}"

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
        document = _yaml(allow_duplicate_keys=False).load(text)
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
        msgspec.convert(_plain(document), RuleFileSpec, strict=True)
    except msgspec.ValidationError as exc:
        return ParsedFile([], [_validation_problem(label, document, str(exc), None)])
    lines = tuple(text.splitlines())
    items: CommentedSeq = document["rules"]
    parsed = ParsedFile(rules=[], problems=[])
    for index, item in enumerate(items):
        name = _rule_name(item, index)
        if not isinstance(item, CommentedMap):
            line, column = items.lc.item(index)
            message = f"rule {name}: expected a mapping of rule fields"
            parsed.problems.append(Problem(f"{label}:{line + 1}:{column + 1}", message))
            continue
        try:
            spec = msgspec.convert(_plain(item), RuleSpec, strict=True)
        except msgspec.ValidationError as exc:
            parsed.problems.append(_validation_problem(label, item, str(exc), name))
            continue
        position = item.lc.value("id")
        parsed.rules.append(ParsedRule(spec, label, position, item.lc.value("when"), lines))
    return parsed


def _yaml(*, allow_duplicate_keys: bool) -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = allow_duplicate_keys
    return yaml


def _rule_name(item: object, index: int) -> str:
    """The rule's id as written, or ``#n`` (1-based within the file) when it has none."""
    if isinstance(item, CommentedMap):
        rule_id = item.get("id")
        if isinstance(rule_id, str) and rule_id.strip():
            return rule_id
    return f"#{index + 1}"


def _yaml_problem(label: str, exc: MarkedYAMLError, rule: str | None) -> Problem:
    """A duplicate key names its rule; a syntax error names the last rule read before it."""
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    message = str(exc.problem or exc.context or "invalid YAML")
    if exc.problem and exc.context:
        message = f"{exc.problem} ({exc.context})"
    if isinstance(exc, DuplicateKeyError):
        text = f"rule {rule}: {message}" if rule else message
    else:
        after = f" (last rule read: {rule})" if rule else ""
        text = f"YAML syntax error{after}: {message}"
    return Problem(f"{label}:{line}:{column}", text)


def _last_rule_before(text: str, exc: MarkedYAMLError) -> str | None:
    """The id of the last rule in the lines before a syntax error, if they parse."""
    mark = exc.problem_mark or exc.context_mark
    if mark is None or mark.line == 0:
        return None
    prefix = "\n".join(text.splitlines()[: mark.line]) + "\n"
    try:
        document = _yaml(allow_duplicate_keys=True).load(prefix)
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
        document = _yaml(allow_duplicate_keys=True).load(text)
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
    line, column = node.lc.line, node.lc.col
    field: str | None = None
    target: Any = node
    for key, index in path:
        if isinstance(target, CommentedMap) and key in target:
            line, column = target.lc.value(key)
            target, field = target[key], key
        elif isinstance(target, CommentedSeq) and index and int(index) < len(target):
            line, column = target.lc.item(int(index))
            target = target[int(index)]
        else:
            break
    unknown = _UNKNOWN_FIELD.search(message)
    missing = _MISSING_FIELD.search(message)
    allowed = RuleSpec.__struct_fields__ if rule else RuleFileSpec.__struct_fields__
    if unknown and isinstance(target, CommentedMap) and unknown.group(1) in target:
        line, column = target.lc.key(unknown.group(1))
        message = f"unknown key `{unknown.group(1)}` (allowed: {', '.join(allowed)})"
    elif missing:
        message = f"missing key `{missing.group(1)}`"
    elif field is not None:
        hint = FIELD_HINTS.get(field) if rule else None
        message = f"`{field}`: {message}" + (f"; must be {hint}" if hint else "")
    prefix = f"rule {rule}: " if rule else ""
    return Problem(f"{label}:{line + 1}:{column + 1}", f"{prefix}{message}")


def _plain(value: object) -> object:
    """ruamel.yaml's round-trip objects as builtin types (for strict msgspec conversion)."""
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, bool | ScalarBoolean):
        return bool(value)
    for builtin in (str, int, float):
        if isinstance(value, builtin):
            return builtin(value)
    return value
