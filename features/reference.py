"""The feature semantics as the most direct loops: slow, obviously correct, and the yardstick.

:func:`compute_features` (offline, vectorized) and the online Redis store must both agree with
:func:`reference_features` bit for bit. Read this module next to ``docs/features.md``: each rule
there is one line here. Quadratic in the size of an entity's history; use it on small data only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from config.fx import FxTable
from features.definitions import FeatureSet, FeatureSpec, Stat
from features.durations import amount_units, cents_of_units, event_time_ms
from features.formulas import amount_value, mean_value, seconds_value, share_value, zscore_value
from features.per_transaction import transaction_feature_value

Value = str | None


@dataclass(frozen=True, slots=True)
class Event:
    """One transaction reduced to what features read."""

    event_ms: int
    units: int
    fields: dict[str, Value]
    fraud_known_ms: int | None = None
    """When the transaction became known to be fraud (ms); ``None``: not known to be fraud."""


def events_from_frame(
    df: pd.DataFrame, fields: Sequence[str], fx: FxTable | None = None
) -> list[Event]:
    """One :class:`Event` per row of ``df``, in input order, reading ``fields`` as strings,
    the amount in ``fx``'s base currency (as it is without a table) and the fraud label
    (``label`` == 1) with its ``label_known_at`` (else the event time)."""
    events = []
    for row in df.to_dict("records"):
        values: dict[str, Value] = {
            field: None if _is_null(row[field]) else str(row[field]) for field in fields
        }
        event_ms = event_time_ms(row["timestamp"])
        known = None
        if not _is_null(row.get("label")) and int(row["label"]) == 1:
            stated = row.get("label_known_at")
            known = event_ms
            if isinstance(stated, datetime) and not _is_null(stated):
                known = event_time_ms(stated)
        units = amount_units(row["amount"])
        if fx is not None:
            units = fx.convert_units(units, str(row["currency"]))
        events.append(Event(event_ms, units, values, known))
    return events


def reference_features(df: pd.DataFrame, feature_set: FeatureSet) -> pd.DataFrame:
    """The same frame :func:`features.offline.compute_features` returns, computed with loops."""
    fields = sorted(
        {s.entity for s in feature_set.windowed}
        | {s.of for s in feature_set.windowed if s.of is not None}
    )
    rows = feature_values(events_from_frame(df, fields, feature_set.fx), feature_set)
    return pd.DataFrame(rows, index=df.index, columns=list(feature_set.names), dtype="float64")


def feature_values(events: Sequence[Event], feature_set: FeatureSet) -> list[list[float]]:
    """Feature values of each event (input order), each row in ``feature_set.names`` order."""
    arrival = sorted(
        range(len(events)), key=lambda i: events[i].event_ms
    )  # stable: ties keep order
    histories: dict[tuple[str, Value], list[Event]] = defaultdict(list)  # arrival order
    values: dict[int, list[float]] = {}
    for i in arrival:
        event = events[i]
        row = [
            _windowed(spec, event, histories[spec.entity, event.fields[spec.entity]])
            for spec in feature_set.windowed
        ]
        row += [
            transaction_feature_value(kind, event.event_ms, event.units)
            for kind in feature_set.per_transaction
        ]
        values[i] = row
        for entity in feature_set.entities:
            if event.fields[entity] is not None:
                histories[entity, event.fields[entity]].append(event)
    return [values[i] for i in range(len(events))]


def _windowed(spec: FeatureSpec, event: Event, history: list[Event]) -> float:
    """One spec for ``event``, given the events of its entity value that arrived before it."""
    if event.fields[spec.entity] is None:
        return math.nan
    low, high = spec.bounds_ms(event.event_ms)
    previous = [e for e in history if low < e.event_ms <= high]
    window = [*previous, event] if low < event.event_ms <= high else previous
    own = event.fields[spec.of] if spec.of is not None else None
    match spec.stat:
        case Stat.COUNT:
            value = float(len(window))
        case Stat.SUM:
            value = amount_value(sum(e.units for e in window))
        case Stat.MEAN:
            value = mean_value(sum(e.units for e in window), len(window))
        case Stat.MAX:
            value = amount_value(max(e.units for e in window)) if window else math.nan
        case Stat.DISTINCT:
            of = _of(spec)
            value = float(len({e.fields[of] for e in window if e.fields[of] is not None}))
        case Stat.FIRST_SEEN:
            seen = any(e.fields[_of(spec)] == own for e in previous)
            value = math.nan if own is None else float(not seen)
        case Stat.SECONDS_SINCE_LAST:
            latest = max((e.event_ms for e in previous), default=None)
            value = math.nan if latest is None else seconds_value(event.event_ms - latest)
        case Stat.ZSCORE:
            cents = [cents_of_units(e.units) for e in previous]
            total, squares = sum(cents), sum(c * c for c in cents)
            value = zscore_value(len(cents), total, squares, cents_of_units(event.units))
        case Stat.FRAUD_COUNT:
            value = float(_known_fraud(spec, event, previous))
        case Stat.FRAUD_SHARE:
            value = share_value(_known_fraud(spec, event, previous), len(previous))
    return value


def _known_fraud(spec: FeatureSpec, event: Event, previous: list[Event]) -> int:
    """Previous rows of the window known to be fraud ``label_delay`` before ``event``."""
    counted_by = event.event_ms - spec.label_delay_ms
    return sum(
        1 for e in previous if e.fraud_known_ms is not None and e.fraud_known_ms <= counted_by
    )


def _of(spec: FeatureSpec) -> str:
    if spec.of is None:  # FeatureSpec guarantees `of` for distinct and first_seen
        raise AssertionError(spec.name)
    return spec.of


def _is_null(value: object) -> bool:
    nan = isinstance(value, float) and math.isnan(value)
    return value is None or nan or value is pd.NA or value is pd.NaT
