"""Reading ``config/features.yaml`` into a :class:`~features.definitions.FeatureSet`.

The file is parsed with ruamel.yaml's round-trip loader so that every problem carries
``file:line:col``; duplicate keys are errors; all problems are reported at once. Format::

    windowed:                     # one feature per window (and per item of `windows`)
      - entity: account           # an alias (account, device, merchant, ip) or Transaction field
        stat: sum                 # count | sum | mean | max | distinct | first_seen |
                                  # seconds_since_last | zscore | fraud_count | fraud_share
        measure: amount           # optional; fixed by the stat (txn, amount or label)
        windows: [1h, 24h]        # or `window: 24h`
        lag: 24h                  # optional: the window ends this long before the transaction
      - {entity: account, stat: distinct, of: merchant, window: 24h}
      - {entity: merchant, stat: fraud_count, windows: [1d, 7d], label_delay: 1d}
    per_transaction: [hour_of_day, day_of_week, is_weekend, is_night, amount]
"""

from __future__ import annotations

from typing import Any, Final

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from config.yaml_source import at, read_yaml, unknown_keys
from core.errors import FeatureSpecError, Problem
from features.definitions import (
    LABEL_ENTITY_FIELDS,
    FeatureSet,
    FeatureSpec,
    Measure,
    Stat,
    TransactionFeatureKind,
    duplicate_problems,
    label_entity_problem,
    resolve_field,
)
from features.durations import DURATION_GRAMMAR, parse_duration

_TOP_KEYS: Final = ("windowed", "per_transaction")
_SPEC_KEYS: Final = (
    "entity",
    "stat",
    "measure",
    "of",
    "window",
    "windows",
    "lag",
    "label_delay",
)
_STATS: Final = frozenset(stat.value for stat in Stat)
_MEASURES: Final = frozenset(measure.value for measure in Measure)
_KINDS: Final = frozenset(kind.value for kind in TransactionFeatureKind)


def parse_feature_set(text: str, source: str) -> FeatureSet:
    """The feature set in ``text``; :class:`FeatureSpecError` lists every problem as
    ``source:line:col: message``."""
    root = read_yaml(text, source, FeatureSpecError)
    parser = _Parser(source)
    feature_set = parser.feature_set(root)
    if parser.problems or feature_set is None:
        raise FeatureSpecError(f"{source} is not a valid feature spec file", parser.problems)
    return feature_set


class _Parser:
    """Walks the YAML tree, collecting specs and problems with their positions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self._spec_locations: list[str] = []
        self._kind_locations: list[str] = []

    def fail(self, position: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(at(self.source, position), message))

    def feature_set(self, root: object) -> FeatureSet | None:
        if not isinstance(root, CommentedMap):
            self.fail((0, 0), "the file must be a mapping with keys `windowed`, `per_transaction`")
            return None
        self._unknown_keys(root, _TOP_KEYS)
        windowed: list[FeatureSpec] = []
        if "windowed" not in root:
            self.fail((0, 0), "missing key `windowed`: the list of windowed feature specs")
        elif not isinstance(items := root["windowed"], CommentedSeq):
            self.fail(root.lc.value("windowed"), "`windowed` must be a list of specs")
        else:
            for index, item in enumerate(items):
                windowed += self._specs(item, items.lc.item(index))
        kinds = self._kinds(root)
        if self.problems:
            return None
        problems = duplicate_problems(
            tuple(windowed), tuple(kinds), (*self._spec_locations, *self._kind_locations)
        )
        self.problems += problems
        return None if problems else FeatureSet(windowed=tuple(windowed), per_transaction=kinds)

    def _kinds(self, root: CommentedMap) -> tuple[TransactionFeatureKind, ...]:
        items = root.get("per_transaction", CommentedSeq())
        if not isinstance(items, CommentedSeq):
            self.fail(root.lc.value("per_transaction"), "`per_transaction` must be a list")
            return ()
        kinds = []
        known = ", ".join(TransactionFeatureKind)
        for index, item in enumerate(items):
            where = items.lc.item(index)
            if isinstance(item, str) and item in _KINDS:
                kinds.append(TransactionFeatureKind(item))
                self._kind_locations.append(at(self.source, where))
            else:
                self.fail(where, f"unknown per-transaction feature {item!r}; known: {known}")
        return tuple(kinds)

    def _unknown_keys(self, node: CommentedMap, known: tuple[str, ...]) -> None:
        listed = ", ".join(known)
        self.problems += unknown_keys(
            self.source, node, known, lambda key: f"unknown key {key!r}; known: {listed}"
        )

    def _specs(self, item: object, position: tuple[int, int]) -> list[FeatureSpec]:
        if not isinstance(item, CommentedMap):
            self.fail(position, "a spec must be a mapping with `entity`, `stat` and `window`")
            return []
        before = len(self.problems)
        self._unknown_keys(item, _SPEC_KEYS)
        entity = self._field(item, "entity", position)
        stat = self._stat(item, position)
        self._check_measure(item, stat)
        of = self._field(item, "of", position) if "of" in item else None
        self._check_of(item, stat, entity, of, position)
        lag = self._duration("lag", item["lag"], item.lc.value("lag")) if "lag" in item else None
        delay = self._label_delay(item, stat, entity)
        windows = self._windows(item, position)
        if len(self.problems) > before or entity is None or stat is None:
            return []
        specs = []
        for window, where in windows:
            specs.append(
                FeatureSpec(
                    entity=entity, stat=stat, window=window, lag=lag, of=of, label_delay=delay
                )
            )
            self._spec_locations.append(at(self.source, where))
        return specs

    def _field(self, item: CommentedMap, key: str, position: tuple[int, int]) -> str | None:
        if key not in item:
            self.fail(position, f"missing `{key}`: an alias (account, device, ...) or field name")
            return None
        value: Any = item[key]
        if not isinstance(value, str):
            self.fail(item.lc.value(key), f"`{key}` must be a field name, not {value!r}")
            return None
        try:
            return resolve_field(value)
        except ValueError as exc:
            self.fail(item.lc.value(key), str(exc))
            return None

    def _stat(self, item: CommentedMap, position: tuple[int, int]) -> Stat | None:
        known = ", ".join(Stat)
        if "stat" not in item:
            self.fail(position, f"missing `stat`: one of {known}")
            return None
        value: Any = item["stat"]
        if isinstance(value, str) and value in _STATS:
            return Stat(value)
        self.fail(item.lc.value("stat"), f"unknown stat {value!r}; known: {known}")
        return None

    def _check_measure(self, item: CommentedMap, stat: Stat | None) -> None:
        if "measure" not in item:
            return
        value: Any = item["measure"]
        if not (isinstance(value, str) and value in _MEASURES):
            known = ", ".join(Measure)
            self.fail(item.lc.value("measure"), f"unknown measure {value!r}; known: {known}")
        elif stat is not None and Measure(value) is not stat.measure:
            self.fail(
                item.lc.value("measure"),
                f"stat {stat} applies to measure {stat.measure}, not {value}",
            )

    def _check_of(
        self,
        item: CommentedMap,
        stat: Stat | None,
        entity: str | None,
        of: str | None,
        position: tuple[int, int],
    ) -> None:
        if stat is None:
            return
        if stat.needs_of and "of" not in item:
            self.fail(position, f"stat {stat} needs `of`: the field whose values it looks at")
        elif not stat.needs_of and "of" in item:
            self.fail(item.lc.key("of"), f"stat {stat} does not take `of`")
        elif of is not None and of == entity:
            self.fail(item.lc.value("of"), f"`of` must differ from the entity ({entity})")

    def _label_delay(self, item: CommentedMap, stat: Stat | None, entity: str | None) -> str | None:
        """The ``label_delay`` of a label-aware spec; problems for one that cannot take it."""
        keyless = entity is not None and entity not in LABEL_ENTITY_FIELDS
        if stat is not None and stat.is_label_aware and keyless:
            self.fail(item.lc.value("entity"), label_entity_problem(stat))
        if "label_delay" not in item:
            return None
        if stat is not None and not stat.is_label_aware:
            self.fail(item.lc.key("label_delay"), f"stat {stat} does not take `label_delay`")
            return None
        return self._duration("label_delay", item["label_delay"], item.lc.value("label_delay"))

    def _duration(self, key: str, value: object, where: tuple[int, int]) -> str | None:
        if not isinstance(value, str):
            self.fail(where, f"`{key}`: {value!r} is not a duration; {DURATION_GRAMMAR}")
            return None
        try:
            parse_duration(value)
        except ValueError as exc:
            self.fail(where, f"`{key}`: {exc}")
            return None
        return value

    def _windows(
        self, item: CommentedMap, position: tuple[int, int]
    ) -> list[tuple[str, tuple[int, int]]]:
        if ("window" in item) == ("windows" in item):
            self.fail(position, "give exactly one of `window: 24h` or `windows: [1h, 24h]`")
            return []
        if "window" in item:
            where = item.lc.value("window")
            window = self._duration("window", item["window"], where)
            return [] if window is None else [(window, where)]
        values = item["windows"]
        if not isinstance(values, CommentedSeq) or not values:
            self.fail(item.lc.value("windows"), "`windows` must be a non-empty list of durations")
            return []
        windows = []
        for index, value in enumerate(values):
            where = values.lc.item(index)
            window = self._duration("windows", value, where)
            if window is not None:
                windows.append((window, where))
        return windows
