"""YAML read with positions: one loader and one ``source:line:col`` format for every file reader.

Feature specs, rule files, import mappings and the settings file are read with ruamel.yaml's
round-trip loader, which remembers where each key, value and list item stands; duplicate keys are
errors. Positions inside ruamel.yaml are 0-based ``(line, column)`` pairs; messages show them
1-based as ``source:line:col``::

    document = read_yaml(text, "features.yaml", FeatureSpecError)   # raises on bad YAML
    value_at("features.yaml", document, "windowed")                 # e.g. 'features.yaml:1:11'
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from core.errors import ConfigError, Problem


def load_yaml(text: str, *, allow_duplicate_keys: bool = False) -> Any:
    """The document in ``text`` as round-trip nodes; :class:`YAMLError` if it is not valid YAML."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = allow_duplicate_keys
    return yaml.load(text)


def read_yaml(text: str, source: str, error: type[ConfigError] = ConfigError) -> Any:
    """:func:`load_yaml` that raises ``error`` (``source is not valid YAML``) with one positioned
    :class:`Problem` instead of a :class:`YAMLError`."""
    try:
        return load_yaml(text)
    except YAMLError as exc:
        raise error(f"{source} is not valid YAML", [yaml_problem(exc, source)]) from None


def yaml_problem(exc: YAMLError, source: str) -> Problem:
    """``exc`` at ``source:line:col`` where the parser stopped (just ``source`` without a mark)."""
    if not isinstance(exc, MarkedYAMLError):  # e.g. unreadable characters
        return Problem(source, str(exc))
    return Problem(
        at(source, error_position(exc)), str(exc.problem or exc.context or "invalid YAML")
    )


def error_position(exc: MarkedYAMLError) -> tuple[int, int] | None:
    """The 0-based ``(line, column)`` of a YAML error: its problem, else its context."""
    mark = exc.problem_mark or exc.context_mark
    return None if mark is None else (mark.line, mark.column)


def at(source: str, position: tuple[int, int] | None) -> str:
    """``source:line:col`` (1-based) of a 0-based ``position``; ``source`` alone for ``None``."""
    if position is None:
        return source
    line, column = position
    return f"{source}:{line + 1}:{column + 1}"


def node_at(source: str, node: CommentedMap | CommentedSeq) -> str:
    """Where a mapping or a list starts."""
    return at(source, (node.lc.line, node.lc.col))


def key_at(source: str, node: CommentedMap, key: object) -> str:
    """Where ``key`` is written in ``node``."""
    return at(source, node.lc.key(key))


def value_at(source: str, node: CommentedMap, key: object) -> str:
    """Where the value of ``key`` starts in ``node``."""
    return at(source, node.lc.value(key))


def item_at(source: str, node: CommentedSeq, index: int) -> str:
    """Where item ``index`` (0-based) of a list starts."""
    return at(source, node.lc.item(index))


def unknown_keys(
    source: str, node: CommentedMap, allowed: Collection[object], message: Callable[[Any], str]
) -> list[Problem]:
    """A problem at each key of ``node`` not in ``allowed``, worded by ``message(key)``."""
    return [Problem(key_at(source, node, key), message(key)) for key in node if key not in allowed]


def plain(value: object) -> object:
    """Round-trip nodes and scalars (``ScalarFloat``, ``HexInt``, ...) as builtin types."""
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, bool | ScalarBoolean):
        return bool(value)
    for builtin in (str, int, float):
        if isinstance(value, builtin):
            return builtin(value)
    return value


__all__ = [
    "at",
    "error_position",
    "item_at",
    "key_at",
    "load_yaml",
    "node_at",
    "plain",
    "read_yaml",
    "unknown_keys",
    "value_at",
    "yaml_problem",
]
