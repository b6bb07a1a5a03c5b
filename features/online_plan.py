"""How a :class:`~features.definitions.FeatureSet` maps onto Redis state, Lua work and result slots.

Pure data, built once when the online store starts. The Lua script
(``features/lua/record_and_compute.lua``) is generic and follows the plan, which is prepended to it
as a Lua table (:attr:`StorePlan.lua_plan`). Per entity field the plan says

* how its state is kept: **exact** (every event of the longest window, the default) or **bucketed**
  (per-bucket aggregates, an approximation for entities too hot for exact state: see
  ``docs/features.md`` §7);
* how long state is kept: the entity's longest window plus lag, plus ``max_lateness``;
* which *slots* (integers in the script's reply) each windowed feature reads, in feature order;
* for label-aware specs, how long the entity's known frauds are kept (in its state, written by
  ``features/lua/record_labels.lua``) and which windows the script counts in them.

Slots hold exact integers (counts, sums in amount units split into limbs, milliseconds); the
floating-point formulas run in Python (:mod:`features.online_codec`), the same ones the offline
computation uses.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from core.errors import ConfigError, Problem
from features.definitions import FeatureSet, FeatureSpec, Stat, resolve_field, short_name

STATE_FORMAT: Final = 1
"""Bumped when the layout of a state value changes; part of every state key's layout id. (Known
frauds are an optional last part that the header announces: they need no new layout.)"""
HEADER_SLOTS: Final = 3
"""Every reply row starts with the plan id, the event time (ms) and the amount (1e-4 units)."""
MISSING: Final = -1
"""A first slot of -1 means the feature is missing (null entity, empty max, no previous row)."""
SUM_LIMB: Final = 2**48
"""Sums come back as ``low + high * SUM_LIMB`` so that Lua's doubles never round them."""
SQUARE_LIMB: Final = 2**24
"""Sums of squared cents come back as ``l0 + l1 * SQUARE_LIMB + l2 * SQUARE_LIMB**2``."""

DEFAULT_BUCKETS_PER_WINDOW: Final = 60
"""A bucketed window is split into this many buckets: its error is at most one bucket's events."""
BUCKETABLE_STATS: Final = frozenset(
    {Stat.COUNT, Stat.SUM, Stat.MEAN, Stat.MAX, Stat.FRAUD_COUNT, Stat.FRAUD_SHARE}
)
"""Statistics a bucketed (approximate) entity supports."""

LUA_STAT_CODES: Final[dict[Stat, int]] = {
    Stat.COUNT: 1,
    Stat.SUM: 2,
    Stat.MEAN: 3,
    Stat.MAX: 4,
    Stat.DISTINCT: 5,
    Stat.FIRST_SEEN: 6,
    Stat.SECONDS_SINCE_LAST: 7,
    Stat.ZSCORE: 8,
    Stat.FRAUD_SHARE: 9,
}
"""The statistic codes the Lua script understands (its ``COUNT``, ``SUM``, ... constants) for the
transaction history; ``fraud_share`` asks it for the previous rows' count (``PREV_COUNT``)."""
SLOT_WIDTHS: Final[dict[Stat, int]] = {
    Stat.COUNT: 1,  # count
    Stat.SUM: 2,  # sum low, sum high
    Stat.MEAN: 3,  # sum low, sum high, count
    Stat.MAX: 1,  # max units or MISSING
    Stat.DISTINCT: 1,  # distinct values
    Stat.FIRST_SEEN: 1,  # 1 first seen, 0 seen before, MISSING for a null value
    Stat.SECONDS_SINCE_LAST: 1,  # milliseconds since the latest previous row, or MISSING
    Stat.ZSCORE: 7,  # n, S1 low, S1 high, S2 l0, l1, l2, own cents
    Stat.FRAUD_COUNT: 1,  # known fraud in the window
    Stat.FRAUD_SHARE: 2,  # known fraud, previous rows (both over the same window)
}


class StateMode(enum.IntEnum):
    """How an entity's history is kept in Redis."""

    EXACT = 1
    BUCKETED = 2


@dataclass(frozen=True, slots=True)
class SpecSlots:
    """Where one windowed feature's integers sit in a reply row (0-based, after the header)."""

    spec: FeatureSpec
    first: int
    name: str
    """``spec.name`` (a derived property, computed once here)."""

    @property
    def width(self) -> int:
        """How many slots the feature's statistic uses."""
        return SLOT_WIDTHS[self.spec.stat]

    @property
    def history_slot(self) -> int:
        """The slot the transaction history fills (``fraud_share``: its second, the count)."""
        return self.first + 1 if self.spec.stat is Stat.FRAUD_SHARE else self.first


@dataclass(frozen=True, slots=True)
class EntityPlan:
    """The state and the work of one entity field."""

    field: str
    mode: StateMode
    of_fields: tuple[str, ...]
    keep_ms: int
    specs: tuple[SpecSlots, ...]
    buckets_per_window: int = DEFAULT_BUCKETS_PER_WINDOW
    label_keep_ms: int = 0
    """How long known-fraud labels are kept (longest label-aware window plus lag, plus
    ``max_lateness``); 0 when no spec of the entity is label-aware."""

    @property
    def history(self) -> tuple[SpecSlots, ...]:
        """The specs that read the entity's transactions."""
        return tuple(slot for slot in self.specs if slot.spec.stat.needs_history)

    @property
    def labels(self) -> tuple[SpecSlots, ...]:
        """The label-aware specs (they read the known frauds in the entity's state)."""
        return tuple(slot for slot in self.specs if slot.spec.stat.is_label_aware)

    @property
    def has_history(self) -> bool:
        """Whether the entity records its transactions (not for ``fraud_count`` alone)."""
        return bool(self.history)

    def label_lua(self) -> list[Any]:
        """This entity's label part of :meth:`StorePlan.lua_plan`: ``[]`` without label-aware
        specs, else ``[label keep ms, [lag, window, label delay, slot, bucket ms, lag, ...],
        keeps history (0/1)]``; the bucket is 0 except for ``fraud_share`` on a bucketed entity
        (its window is rounded to the buckets its count comes from)."""
        if not self.labels:
            return []
        specs = []
        for slot in self.labels:
            spec = slot.spec
            rounded = self.mode is StateMode.BUCKETED and spec.stat is Stat.FRAUD_SHARE
            bucket = self.bucket_ms(spec) if rounded else 0
            specs += [spec.lag_ms, spec.window_ms, spec.label_delay_ms, slot.first + 1, bucket]
        return [self.label_keep_ms, specs, int(self.has_history)]

    def label_entity_lua(self) -> list[int]:
        """What ``record_labels.lua`` needs to know of this entity's state:
        ``[mode, resolutions, keep ms, label keep ms]``."""
        resolutions = len(self._bucket_sizes()) if self.mode is StateMode.BUCKETED else 0
        return [int(self.mode), resolutions, self.keep_ms, self.label_keep_ms]

    @property
    def layout_id(self) -> str:
        """8 hex digits naming the state layout; part of the state keys (see docs §7)."""
        layout = [STATE_FORMAT, self.field, int(self.mode), list(self.of_fields)]
        if self.mode is StateMode.BUCKETED:
            layout += [
                self._bucket_sizes(),
                self._needs(Stat.SUM, Stat.MEAN),
                self._needs(Stat.MAX),
            ]
        return hashlib.sha256(msgspec.json.encode(layout)).hexdigest()[:8]

    def bucket_ms(self, spec: FeatureSpec) -> int:
        """Bucket length for ``spec`` when bucketed: its window over ``buckets_per_window``."""
        return max(1, spec.window_ms // self.buckets_per_window)

    def lua(self, max_lateness_ms: int) -> list[Any]:
        """This entity's part of :meth:`StorePlan.lua_plan`."""
        if self.mode is StateMode.EXACT:
            return [int(self.mode), self.keep_ms, len(self.of_fields), self._exact_groups()]
        return [
            int(self.mode),
            self.keep_ms,
            int(self._needs(Stat.SUM, Stat.MEAN)),
            int(self._needs(Stat.MAX)),
            self._resolutions(max_lateness_ms),
        ]

    def _needs(self, *stats: Stat) -> bool:
        return any(slot.spec.stat in stats for slot in self.history)

    def _bucket_sizes(self) -> list[int]:
        return sorted({self.bucket_ms(slot.spec) for slot in self.history})

    def _exact_groups(self) -> list[Any]:
        """Per lag: ``[lag, needs_zscore, of positions, windows ascending]``; a window is
        ``[window_ms, stat code, of position, slot, stat code, ...]`` (positions and slots
        1-based; flat, because building Lua tables is most of the cost of a plan)."""
        groups = []
        for lag in sorted({slot.spec.lag_ms for slot in self.history}):
            members = [slot for slot in self.history if slot.spec.lag_ms == lag]
            positions = sorted(
                {self.of_fields.index(s.spec.of) + 1 for s in members if s.spec.of is not None}
            )
            windows = [
                [window, *(n for s in members if s.spec.window_ms == window for n in self._out(s))]
                for window in sorted({s.spec.window_ms for s in members})
            ]
            zscore = int(any(s.spec.stat is Stat.ZSCORE for s in members))
            groups.append([lag, zscore, positions, windows])
        return groups

    def _out(self, slot: SpecSlots) -> list[int]:
        of = slot.spec.of
        position = 0 if of is None else self.of_fields.index(of) + 1
        return [LUA_STAT_CODES[slot.spec.stat], position, slot.history_slot + 1]

    def _resolutions(self, max_lateness_ms: int) -> list[Any]:
        """Per bucket size: ``[bucket_ms, keep_ms, [lag, window, stat code, slot, lag, ...]]``."""
        resolutions = []
        for size in self._bucket_sizes():
            members = [s for s in self.history if self.bucket_ms(s.spec) == size]
            keep = max(s.spec.span_ms for s in members) + max_lateness_ms
            specs = [
                n
                for s in members
                for n in (
                    s.spec.lag_ms,
                    s.spec.window_ms,
                    LUA_STAT_CODES[s.spec.stat],
                    s.history_slot + 1,
                )
            ]
            resolutions.append([size, keep, specs])
        return resolutions


@dataclass(frozen=True, slots=True)
class StorePlan:
    """Everything the online store derives from the feature set and its options (computed once:
    a plan is consulted for every transaction)."""

    feature_set: FeatureSet
    entities: tuple[EntityPlan, ...]
    slot_count: int
    max_lateness_ms: int
    idempotency_ttl_ms: int
    names: tuple[str, ...]
    version: str
    plan_id: int
    """A 48-bit hash of what the reply rows mean; stored in every idempotency record."""
    lua_plan: str
    """The plan as a Lua table constructor, prepended to the script (see the script's header)."""
    state_prefixes: tuple[str, ...]
    """Per entity, ``{short name}:{layout id}:``, the part of its state keys after the prefix."""
    windowed_slots: tuple[tuple[str, Stat, int], ...]
    """Per windowed feature, in feature order: its name, statistic and first slot."""
    label_entities: tuple[int, ...]
    """Indexes (into ``entities``) of the entities with label-aware specs, in plan order."""
    label_record_ttl_ms: int
    """How long a transaction's label record lives after its last write (the longest label
    retention); 0 when no spec is label-aware."""
    label_lua_plan: str
    """The plan of ``record_labels.lua``: ``{record ttl, {per label entity: {mode, resolutions,
    keep ms, label keep ms}}}``."""


def build_plan(
    feature_set: FeatureSet,
    *,
    bucketed: Mapping[str, int],
    max_lateness_ms: int,
    idempotency_ttl_ms: int,
) -> StorePlan:
    """The plan for ``feature_set``; ``bucketed`` maps entity fields (or aliases) to buckets per
    window. :class:`ConfigError` lists every option that cannot work."""
    problems = _option_problems(feature_set, bucketed, max_lateness_ms, idempotency_ttl_ms)
    if problems:
        raise ConfigError("the online feature store options are invalid", problems)
    buckets = {resolve_field(name): count for name, count in bucketed.items()}
    entities, first = [], 0
    for field in feature_set.entities:
        slots = []
        for spec in feature_set.specs_for(field):
            slots.append(SpecSlots(spec, first, spec.name))
            first += SLOT_WIDTHS[spec.stat]
        label_window = feature_set.label_window_ms_for(field)
        entities.append(
            EntityPlan(
                field=field,
                mode=StateMode.BUCKETED if field in buckets else StateMode.EXACT,
                of_fields=feature_set.of_fields(field),
                keep_ms=feature_set.history_window_ms_for(field) + max_lateness_ms,
                specs=tuple(slots),
                buckets_per_window=buckets.get(field, DEFAULT_BUCKETS_PER_WINDOW),
                label_keep_ms=label_window + max_lateness_ms if label_window else 0,
            )
        )
    entity_lua = [entity.lua(max_lateness_ms) for entity in entities]
    label_lua = [entity.label_lua() for entity in entities]
    version = feature_set.version
    meaning = msgspec.json.encode([version, entity_lua, label_lua])
    plan_id = int(hashlib.sha256(meaning).hexdigest()[:12], 16)
    label_entities = tuple(i for i, entity in enumerate(entities) if entity.labels)
    record_ttl = max((entities[i].label_keep_ms for i in label_entities), default=0)
    return StorePlan(
        feature_set=feature_set,
        entities=tuple(entities),
        slot_count=first,
        max_lateness_ms=max_lateness_ms,
        idempotency_ttl_ms=idempotency_ttl_ms,
        names=feature_set.names,
        version=version,
        plan_id=plan_id,
        lua_plan=lua_literal([plan_id, idempotency_ttl_ms, first, entity_lua, label_lua]),
        state_prefixes=tuple(f"{short_name(e.field)}:{e.layout_id}:" for e in entities),
        windowed_slots=_windowed_slots(feature_set, entities),
        label_entities=label_entities,
        label_record_ttl_ms=record_ttl,
        label_lua_plan=lua_literal(
            [record_ttl, [entities[i].label_entity_lua() for i in label_entities]]
        ),
    )


def _windowed_slots(
    feature_set: FeatureSet, entities: list[EntityPlan]
) -> tuple[tuple[str, Stat, int], ...]:
    by_name = {slot.name: slot for entity in entities for slot in entity.specs}
    return tuple((spec.name, spec.stat, by_name[spec.name].first) for spec in feature_set.windowed)


def lua_literal(value: Any) -> str:
    """Nested lists of integers as a Lua table constructor: ``[1, [2]]`` → ``{1,{2}}``."""
    if isinstance(value, list):
        return "{" + ",".join(lua_literal(item) for item in value) + "}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"the Lua plan holds integers only, got {value!r}")
    return str(value)


def _option_problems(
    feature_set: FeatureSet,
    bucketed: Mapping[str, int],
    max_lateness_ms: int,
    idempotency_ttl_ms: int,
) -> list[Problem]:
    problems = []
    if max_lateness_ms < 0:
        problems.append(Problem("max_lateness", f"must not be negative, got {max_lateness_ms} ms"))
    if idempotency_ttl_ms <= 0:
        problems.append(
            Problem("idempotency_ttl", f"must be positive, got {idempotency_ttl_ms} ms")
        )
    for name, count in bucketed.items():
        where = f"bucketed[{name!r}]"
        try:
            resolve_field(name)
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
            continue
        if count < 1:
            problems.append(Problem(where, f"buckets per window must be at least 1, got {count}"))
        problems.extend(
            Problem(where, f"{spec.name}: stat {spec.stat} cannot be bucketed (only {_names()})")
            for spec in feature_set.specs_for(name)
            if spec.stat not in BUCKETABLE_STATS
        )
    return problems


def _names(stats: Iterable[Stat] = BUCKETABLE_STATS) -> str:
    return ", ".join(sorted(stat.value for stat in stats))


class KeySpace:
    """Redis key names of the online store (the format is written down in docs §7)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def state_key(self, plan: StorePlan, entity_index: int, value: str) -> str:
        """``{prefix}s:{entity short name}:{layout id}:{value}``: one entity value's history."""
        return f"{self.prefix}s:{plan.state_prefixes[entity_index]}{value}"

    def transaction_key(self, transaction_id: str) -> str:
        """``{prefix}t:{transaction_id}``: the idempotency record of one transaction."""
        return f"{self.prefix}t:{transaction_id}"

    def label_key(self, transaction_id: str) -> str:
        """``{prefix}l:{transaction_id}``: the label history of one transaction."""
        return f"{self.prefix}l:{transaction_id}"
