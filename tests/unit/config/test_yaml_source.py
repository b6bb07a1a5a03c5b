"""The shared positioned-YAML reader: one loader, one ``source:line:col`` format."""

from __future__ import annotations

import pytest
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from config import yaml_source
from core.errors import ConfigError, FeatureSpecError, Problem

DOCUMENT = "top:\n  name: card\n  list:\n    - first\n    - {inner: 1}\n"


def test_load_yaml_keeps_positions() -> None:
    """The round-trip loader returns nodes that know where they were written."""
    document = yaml_source.load_yaml(DOCUMENT)
    assert isinstance(document, CommentedMap)
    assert document["top"].lc.value("name") == (1, 8)


def test_duplicate_keys_are_errors_unless_allowed() -> None:
    """A key given twice raises, unless duplicates are explicitly allowed."""
    with pytest.raises(DuplicateKeyError):
        yaml_source.load_yaml("a: 1\na: 2\n")
    assert list(yaml_source.load_yaml("a: 1\na: 2\n", allow_duplicate_keys=True)) == ["a"]


def test_read_yaml_raises_the_given_error_with_a_positioned_problem() -> None:
    """Broken YAML becomes the caller's ConfigError subclass with one source:line:col problem."""
    with pytest.raises(FeatureSpecError) as caught:
        yaml_source.read_yaml("windowed: [\n", "F", FeatureSpecError)
    assert caught.value.summary == "F is not valid YAML"
    assert caught.value.problems == [
        Problem("F:2:1", "expected the node content, but found '<stream end>'")
    ]
    assert caught.value.__cause__ is None


def test_read_yaml_defaults_to_config_error() -> None:
    """Without an error class, read_yaml raises ConfigError; valid text loads as usual."""
    with pytest.raises(ConfigError, match="S is not valid YAML"):
        yaml_source.read_yaml("a: 1\na: 2\n", "S")
    assert yaml_source.read_yaml("a: 1\n", "S") == {"a": 1}


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", "S:3:1", 'found duplicate key "a"'),
        ("a: \x07\n", "S", "unacceptable character #x0007"),
    ],
)
def test_yaml_problem_is_placed_where_parsing_stopped(
    text: str, location: str, message: str
) -> None:
    """A YAML error is located at its mark (a duplicate at the second key), else at the source."""
    with pytest.raises(YAMLError) as caught:
        yaml_source.load_yaml(text)
    problem = yaml_source.yaml_problem(caught.value, "S")
    assert problem.location == location
    assert problem.message.startswith(message)


def test_error_position_falls_back_to_the_context_mark() -> None:
    """The error's position is its problem mark, else its context mark, else None."""
    with pytest.raises(MarkedYAMLError) as caught:
        yaml_source.load_yaml("a: [1, 2\n")
    assert yaml_source.error_position(caught.value) == (1, 0)
    caught.value.problem_mark = None
    assert yaml_source.error_position(caught.value) == (0, 3)
    caught.value.context_mark = None
    assert yaml_source.error_position(caught.value) is None


def test_at_is_one_based() -> None:
    """A 0-based position is shown 1-based; no position shows the source alone."""
    assert yaml_source.at("f.yaml", (0, 0)) == "f.yaml:1:1"
    assert yaml_source.at("f.yaml", (4, 9)) == "f.yaml:5:10"
    assert yaml_source.at("f.yaml", None) == "f.yaml"


def test_node_key_value_and_item_positions() -> None:
    """Keys, values, list items and nodes are located where they are written."""
    top = yaml_source.load_yaml(DOCUMENT)["top"]
    assert yaml_source.key_at("S", top, "name") == "S:2:3"
    assert yaml_source.value_at("S", top, "name") == "S:2:9"
    assert yaml_source.item_at("S", top["list"], 1) == "S:5:7"
    assert yaml_source.node_at("S", top["list"][1]) == "S:5:7"
    assert yaml_source.node_at("S", top) == "S:2:3"


def test_unknown_keys_are_reported_at_the_key() -> None:
    """Each key outside the allowed set is a problem at the key, in file order."""
    node = yaml_source.load_yaml("b: 1\nzz: 2\na: 3\nyy: 4\n")
    problems = yaml_source.unknown_keys("S", node, {"a", "b"}, lambda key: f"unknown key {key!r}")
    assert problems == [Problem("S:2:1", "unknown key 'zz'"), Problem("S:4:1", "unknown key 'yy'")]
    assert yaml_source.unknown_keys("S", node, ("a", "b", "yy", "zz"), str) == []


def test_plain_turns_round_trip_values_into_builtins() -> None:
    """Round-trip maps, lists and scalars (floats, hex ints, anchored booleans) become builtins."""
    value = yaml_source.plain(
        yaml_source.load_yaml("m: {f: 1.5, h: 0x10, b: &t true, l: [x, *t]}\n")
    )
    assert value == {"m": {"f": 1.5, "h": 16, "b": True, "l": ["x", True]}}
    assert type(value) is dict
    inner = value["m"]
    assert [type(inner[key]) for key in ("f", "h", "b", "l")] == [float, int, bool, list]
