"""What a feature is: windowed specs over an entity's history, and per-transaction values.

A :class:`FeatureSpec` says *which* transactions (those sharing the current one's ``entity`` value
within ``window``, optionally shifted back by ``lag``) and *what* to compute over them
(``measure`` and ``stat``). Its name is derived, never typed::

    {subject}_{stat}_by_{entity}_{window}[_lag{lag}][_delay{label_delay}]

where ``subject`` is the ``of`` field's short name for ``distinct`` / ``first_seen``, nothing for
the label-aware stats (``fraud_count_by_merchant_7d``) and the measure (``txn`` or ``amount``)
otherwise, and ``entity`` is the entity field's short name. The label-aware stats count the
earlier transactions of the window whose fraud label was known ``label_delay`` before the current
one. The exact semantics are written down in ``docs/features.md`` and executed, slowly and
plainly, by :mod:`features.reference`.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import timedelta
from typing import Final

import msgspec

from config.fx import FxTable
from core.errors import FeatureSpecError, Problem
from core.models import Transaction
from features.durations import parse_duration

SEMANTICS_VERSION: Final = 1
"""Bumped whenever the meaning of a spec changes; part of every :attr:`FeatureSet.version`."""

ZSCORE_CLIP: Final = 10.0
"""``zscore`` values are clipped to [-ZSCORE_CLIP, ZSCORE_CLIP]."""
ZSCORE_MIN_HISTORY: Final = 2
"""``zscore`` needs at least this many previous transactions in the window; fewer → missing."""
NIGHT_END_HOUR: Final = 6
"""``is_night`` is 1.0 for UTC hours 0, 1, ..., NIGHT_END_HOUR - 1."""

_NOT_ENTITY_FIELDS: Final = frozenset({"amount", "timestamp", "attributes"})
ENTITY_FIELDS: Final[tuple[str, ...]] = tuple(
    name for name in Transaction.__struct_fields__ if name not in _NOT_ENTITY_FIELDS
)
"""Transaction fields that can key a window or be counted with ``of``: the categorical ones."""
ENTITY_ALIASES: Final[dict[str, str]] = {
    "account": "account_id",
    "device": "device_id",
    "merchant": "merchant_id",
    "ip": "ip_address",
}
"""Short names accepted in spec files and used in feature names."""
LABEL_ENTITY_FIELDS: Final = ("account_id", "merchant_id", "device_id", "ip_address")
"""The entities a known label names (``core.labels.KnownLabel``): label-aware stats key on these."""
_SHORT_NAMES: Final = {field: alias for alias, field in ENTITY_ALIASES.items()}


def resolve_field(name: str) -> str:
    """The Transaction field that ``name`` (an alias or a field name) means; ValueError if none."""
    field = ENTITY_ALIASES.get(name, name)
    if field not in ENTITY_FIELDS:
        known = sorted({*ENTITY_ALIASES, *ENTITY_FIELDS})
        raise ValueError(f"unknown transaction field {name!r}; known: {', '.join(known)}")
    return field


def _require_field_name(name: str, role: str) -> None:
    if resolve_field(name) != name:
        raise ValueError(f"`{role}` must be a Transaction field name: {resolve_field(name)!r}")


def short_name(field: str) -> str:
    """The token a field contributes to feature names (``account_id`` → ``account``)."""
    return _SHORT_NAMES.get(field, field)


class Measure(enum.StrEnum):
    """What is aggregated: the transaction itself, or its amount."""

    TXN = "txn"
    AMOUNT = "amount"
    LABEL = "label"


class Stat(enum.StrEnum):
    """How the transactions of a window are summarised."""

    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    DISTINCT = "distinct"
    FIRST_SEEN = "first_seen"
    SECONDS_SINCE_LAST = "seconds_since_last"
    ZSCORE = "zscore"
    FRAUD_COUNT = "fraud_count"
    FRAUD_SHARE = "fraud_share"

    @property
    def measure(self) -> Measure:
        """The one measure this statistic applies to."""
        if self in _LABEL_STATS:
            return Measure.LABEL
        return Measure.AMOUNT if self in _AMOUNT_STATS else Measure.TXN

    @property
    def is_label_aware(self) -> bool:
        """Whether the statistic counts known labels (and may take ``label_delay``)."""
        return self in _LABEL_STATS

    @property
    def needs_history(self) -> bool:
        """Whether the statistic reads the entity's transactions (all but ``fraud_count``, which
        reads its labels only)."""
        return self is not Stat.FRAUD_COUNT

    @property
    def needs_of(self) -> bool:
        """Whether the statistic looks at another field, named by ``of``."""
        return self in (Stat.DISTINCT, Stat.FIRST_SEEN)


_AMOUNT_STATS: Final = frozenset({Stat.SUM, Stat.MEAN, Stat.MAX, Stat.ZSCORE})
_LABEL_STATS: Final = frozenset({Stat.FRAUD_COUNT, Stat.FRAUD_SHARE})


class TransactionFeatureKind(enum.StrEnum):
    """Features of the transaction alone; the value is also the feature name."""

    HOUR_OF_DAY = "hour_of_day"
    DAY_OF_WEEK = "day_of_week"
    IS_WEEKEND = "is_weekend"
    IS_NIGHT = "is_night"
    AMOUNT = "amount"


SemanticKey = tuple[str, Stat, str | None, int, int, int]
"""Entity, stat, ``of``, window, lag and label delay (ms): what a spec computes."""


class FeatureSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One windowed feature: ``stat`` of ``measure`` over the ``entity``'s window.

    ``entity`` and ``of`` are Transaction field names (aliases are resolved by the loader);
    ``window``, ``lag`` and ``label_delay`` are duration strings (see :mod:`features.durations`).
    ``label_delay`` (label-aware stats only): a label counts from this long after it was known.
    """

    entity: str
    stat: Stat
    window: str
    lag: str | None = None
    of: str | None = None
    label_delay: str | None = None

    def __post_init__(self) -> None:
        """Reject what cannot mean anything; the loader reports the same errors with positions."""
        _require_field_name(self.entity, "entity")
        parse_duration(self.window)
        if self.lag is not None:
            parse_duration(self.lag)
        if self.stat.needs_of and self.of is None:
            raise ValueError(f"stat {self.stat} needs `of`: the field whose values it looks at")
        if not self.stat.needs_of and self.of is not None:
            raise ValueError(f"stat {self.stat} does not take `of`")
        if self.of is not None:
            _require_field_name(self.of, "of")
            if self.of == self.entity:
                raise ValueError(f"`of` must differ from the entity field {self.entity!r}")
        if self.label_delay is not None:
            if not self.stat.is_label_aware:
                raise ValueError(f"stat {self.stat} does not take `label_delay`")
            parse_duration(self.label_delay)
        if self.stat.is_label_aware and self.entity not in LABEL_ENTITY_FIELDS:
            raise ValueError(label_entity_problem(self.stat))

    @property
    def measure(self) -> Measure:
        """What the statistic aggregates (fixed by the statistic)."""
        return self.stat.measure

    @property
    def window_ms(self) -> int:
        """Window length in milliseconds."""
        return parse_duration(self.window)

    @property
    def lag_ms(self) -> int:
        """Lag in milliseconds (0 without a lag)."""
        return 0 if self.lag is None else parse_duration(self.lag)

    @property
    def label_delay_ms(self) -> int:
        """Label delay in milliseconds (0 without one)."""
        return 0 if self.label_delay is None else parse_duration(self.label_delay)

    @property
    def span_ms(self) -> int:
        """How far back the window reaches: window plus lag."""
        return self.window_ms + self.lag_ms

    def bounds_ms(self, event_ms: int) -> tuple[int, int]:
        """The window of a transaction at ``event_ms`` as (exclusive start, inclusive end)."""
        end = event_ms - self.lag_ms
        return end - self.window_ms, end

    @property
    def name(self) -> str:
        """``{subject}_{stat}_by_{entity}_{window}[_lag{lag}][_delay{label_delay}]``."""
        if self.stat.is_label_aware:
            prefix = self.stat.value
        else:
            subject = short_name(self.of) if self.of is not None else self.measure.value
            prefix = f"{subject}_{self.stat.value}"
        name = f"{prefix}_by_{short_name(self.entity)}_{self.window}"
        if self.lag is not None:
            name = f"{name}_lag{self.lag}"
        return f"{name}_delay{self.label_delay}" if self.label_delay is not None else name

    @property
    def semantic_key(self) -> SemanticKey:
        """Two specs with the same key compute the same numbers (``24h`` and ``1d`` windows)."""
        return (self.entity, self.stat, self.of, self.window_ms, self.lag_ms, self.label_delay_ms)


def label_entity_problem(stat: Stat) -> str:
    """Why ``stat`` cannot key on an entity a label does not name."""
    names = ", ".join(sorted(short_name(field) for field in LABEL_ENTITY_FIELDS))
    return f"stat {stat} needs an entity a label names: {names}"


class FeatureSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ordered features a model consumes: windowed specs first, then per-transaction ones.

    ``fx`` converts amounts to its base currency before any amount feature sees them (the online
    store, the offline computation); ``None`` takes amounts as they are, whatever their currency
    (feature sets built in code, e.g. tests). :func:`features.spec.load_feature_set` always
    attaches a table.
    """

    windowed: tuple[FeatureSpec, ...]
    per_transaction: tuple[TransactionFeatureKind, ...] = ()
    fx: FxTable | None = None

    def __post_init__(self) -> None:
        """Names and meanings are unique."""
        problems = duplicate_problems(self.windowed, self.per_transaction)
        if problems:
            raise FeatureSpecError("feature set has duplicate features", problems)

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names in the model's column order."""
        return tuple(spec.name for spec in self.windowed) + tuple(
            k.value for k in self.per_transaction
        )

    @property
    def version(self) -> str:
        """Content hash of the normalized specs, :data:`SEMANTICS_VERSION` and, with an FX
        table, its :attr:`~config.fx.FxTable.version` (new rates are new features)."""
        content: dict[str, object] = {
            "semantics": SEMANTICS_VERSION,
            "windowed": [
                [s.entity, s.stat.value, s.of, s.window_ms, s.lag_ms, s.name]
                + ([s.label_delay_ms] if s.stat.is_label_aware else [])
                for s in self.windowed
            ],
            "per_transaction": list(self.per_transaction),
        }
        if self.fx is not None:
            content["fx"] = self.fx.version
        return hashlib.sha256(msgspec.json.encode(content)).hexdigest()[:16]

    @property
    def fx_version(self) -> str | None:
        """The FX table's version (``None`` without a table), recorded in model manifests."""
        return None if self.fx is None else self.fx.version

    @property
    def max_window_ms(self) -> int:
        """The longest window plus lag: state older than this can be dropped."""
        return max((spec.span_ms for spec in self.windowed), default=0)

    @property
    def max_window(self) -> timedelta:
        """:attr:`max_window_ms` as a timedelta."""
        return timedelta(milliseconds=self.max_window_ms)

    @property
    def entities(self) -> tuple[str, ...]:
        """Entity fields with at least one spec, in first-use order."""
        return tuple(dict.fromkeys(spec.entity for spec in self.windowed))

    def specs_for(self, entity: str) -> tuple[FeatureSpec, ...]:
        """The specs keyed by ``entity`` (a field name or alias), in feature order."""
        field = ENTITY_ALIASES.get(entity, entity)
        return tuple(spec for spec in self.windowed if spec.entity == field)

    def of_fields(self, entity: str) -> tuple[str, ...]:
        """Fields whose values must be remembered per ``entity`` (for distinct / first_seen)."""
        return tuple(
            dict.fromkeys(spec.of for spec in self.specs_for(entity) if spec.of is not None)
        )

    def max_window_ms_for(self, entity: str) -> int:
        """How far back ``entity``'s windows reach (window plus lag, every spec)."""
        return max((spec.span_ms for spec in self.specs_for(entity)), default=0)

    def history_window_ms_for(self, entity: str) -> int:
        """How long ``entity``'s transactions must be kept (specs that read them)."""
        specs = self.specs_for(entity)
        return max((s.span_ms for s in specs if s.stat.needs_history), default=0)

    def label_window_ms_for(self, entity: str) -> int:
        """How long ``entity``'s known labels must be kept (label-aware specs); 0 without any."""
        specs = self.specs_for(entity)
        return max((s.span_ms for s in specs if s.stat.is_label_aware), default=0)

    @property
    def label_aware(self) -> bool:
        """Whether any spec counts known labels (the offline computation then reads them)."""
        return any(spec.stat.is_label_aware for spec in self.windowed)


def duplicate_problems(
    windowed: tuple[FeatureSpec, ...],
    per_transaction: tuple[TransactionFeatureKind, ...],
    locations: tuple[str, ...] = (),
) -> list[Problem]:
    """One problem per feature that repeats an earlier one's name or meaning.

    ``locations`` (one per windowed spec, then one per per-transaction feature) say where each
    feature was declared; without them problems are located by feature name.
    """
    problems: list[Problem] = []
    names: dict[str, int] = {}
    meanings: dict[SemanticKey, str] = {}
    all_names = [spec.name for spec in windowed] + [str(kind) for kind in per_transaction]
    for index, name in enumerate(all_names):
        where = locations[index] if index < len(locations) else name
        if name in names:
            problems.append(Problem(where, f"duplicate feature {name!r}"))
        names.setdefault(name, index)
        if index < len(windowed):
            key = windowed[index].semantic_key
            if key in meanings and meanings[key] != name:
                problems.append(
                    Problem(where, f"{name!r} computes the same values as {meanings[key]!r}")
                )
            meanings.setdefault(key, name)
    return problems
