"""What goes into one EVALSHA of the online store, and how its reply becomes feature vectors.

Pure functions: :func:`build_call` turns a batch of transactions into the script's KEYS and ARGV
(:func:`build_label_call` does the same for a batch of known labels and ``record_labels.lua``);
:func:`decode_rows` turns the script's reply (one MessagePack row of integers per transaction, or
``CONFLICT``) into :class:`~core.models.FeatureVector` s with the formulas the offline computation
uses (:mod:`features.formulas`), so both produce the same bits, and into
:class:`~core.payload.PayloadConflict` for an id already recorded with another payload.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from core.labels import KnownLabel
from core.models import FeatureVector, Transaction
from core.payload import PayloadConflict, payload_digest
from features.currency import transaction_units
from features.definitions import Stat
from features.durations import cents_of_units, event_time_ms
from features.formulas import amount_value, mean_value, seconds_value, share_value, zscore_value
from features.online_plan import (
    HEADER_SLOTS,
    MISSING,
    SQUARE_LIMB,
    SUM_LIMB,
    KeySpace,
    StorePlan,
)
from features.per_transaction import transaction_feature_value

RECORD: bytes = b"1"
"""ARGV[2] when the script records the transactions; ``b"0"`` computes only."""
COMPUTE_ONLY: bytes = b"0"
CONFLICT: int = 0
"""The script's reply for a transaction whose id is recorded with another payload digest."""

_Row = list[int]
_FIXARRAY = 0x90  # MessagePack header of an array of up to 15 items: 0x90 | length
_MAX_FIXARRAY = 15
_ROW_DECODER = msgspec.msgpack.Decoder(list[int])


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """KEYS and ARGV of one script call (the order is the script's contract)."""

    keys: list[str]
    args: list[bytes]


def field_value(txn: Transaction | KnownLabel, field: str) -> str | None:
    """The value of ``field`` as features compare it: a string, or ``None`` when null."""
    value = getattr(txn, field)
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def build_call(
    plan: StorePlan, keys: KeySpace, txns: Sequence[Transaction], *, record: bool
) -> ScriptCall:
    """KEYS: one idempotency key per transaction (in order), then each state key once.

    ARGV: ``RECORD`` or ``COMPUTE_ONLY``; the batch as one flat MessagePack array: per
    transaction its event time (ms), units and cents (of the amount in the feature set's base
    currency, :func:`features.currency.transaction_units`; :class:`InvalidInputError` for a
    currency without a rate), then per plan entity the 1-based KEYS index
    of its state (0 when the entity value is null) followed by its ``of`` values (false if
    null); then the payload digests
    (:func:`core.payload.payload_digest`, 8 bytes per transaction) concatenated, as raw bytes
    (Redis's cmsgpack does not unpack MessagePack ``bin`` values).
    """
    all_keys = [keys.transaction_key(txn.transaction_id) for txn in txns]
    state_index: dict[str, int] = {}
    batch: list[int | str | bool] = []
    for txn in txns:
        units = transaction_units(txn, plan.feature_set.fx)
        batch += (event_time_ms(txn.timestamp), units, cents_of_units(units))
        for position, entity in enumerate(plan.entities):
            value = field_value(txn, entity.field)
            if value is None:
                batch.append(0)
                batch += (False,) * len(entity.of_fields)
                continue
            key = keys.state_key(plan, position, value)
            batch.append(_key_index(all_keys, state_index, key))
            for of in entity.of_fields:
                of_value = field_value(txn, of)
                batch.append(False if of_value is None else of_value)
    digests = b"".join(payload_digest(txn) for txn in txns)
    args = [RECORD if record else COMPUTE_ONLY, msgspec.msgpack.encode(batch), digests]
    return ScriptCall(keys=all_keys, args=args)


def _key_index(all_keys: list[str], indexes: dict[str, int], key: str) -> int:
    """``key``'s 1-based position in ``all_keys`` (Lua's KEYS), appending it the first time."""
    index = indexes.get(key)
    if index is None:
        all_keys.append(key)
        index = indexes[key] = len(all_keys)
    return index


def build_label_call(plan: StorePlan, keys: KeySpace, labels: Sequence[KnownLabel]) -> ScriptCall:
    """KEYS and ARGV of ``record_labels.lua`` for ``labels``, in order.

    KEYS: the label record of each label's transaction (in order), then each entity state key
    once (known frauds live in the entity values' states). ARGV[1]: one flat MessagePack array:
    per label its known-at (ms), 1 for fraud or 0, the transaction's event time (ms), then per
    label entity (``plan.label_entities``) the 1-based KEYS index of that entity value's state
    (0 when the label names no value).
    """
    all_keys = [keys.label_key(label.transaction_id) for label in labels]
    indexes: dict[str, int] = {}
    batch: list[int] = []
    for label in labels:
        batch += (
            event_time_ms(label.known_at),
            int(label.is_fraud),
            event_time_ms(label.event_time),
        )
        for position in plan.label_entities:
            value = field_value(label, plan.entities[position].field)
            if value is None:
                batch.append(0)
            else:
                key = keys.state_key(plan, position, value)
                batch.append(_key_index(all_keys, indexes, key))
    return ScriptCall(keys=all_keys, args=[msgspec.msgpack.encode(batch)])


def decode_rows(
    plan: StorePlan, txns: Sequence[Transaction], replies: Sequence[bytes | int]
) -> list[FeatureVector | PayloadConflict]:
    """Per transaction, in order: its feature vector, or a conflict when the script found its id
    recorded with another payload."""
    return [
        PayloadConflict(transaction_id=txn.transaction_id)
        if isinstance(reply, int)
        else vector_from_row(plan, _ROW_DECODER.decode(reply))
        for txn, reply in zip(txns, replies, strict=True)
    ]


def vector_from_row(plan: StorePlan, row: _Row) -> FeatureVector:
    """The feature vector a reply row describes.

    A row stored under another plan (a retry after the feature set changed) has no meaning for
    this one: its windowed features are missing; the transaction is still not recorded twice.
    """
    plan_id, event_ms, units = row[:HEADER_SLOTS]
    values: dict[str, float | None]
    if plan_id == plan.plan_id and len(row) == HEADER_SLOTS + plan.slot_count:
        values = {
            name: _DECODERS[stat](row, HEADER_SLOTS + first)
            for name, stat, first in plan.windowed_slots
        }
    else:
        values = dict.fromkeys(name for name, _, _ in plan.windowed_slots)
    for kind in plan.feature_set.per_transaction:
        values[kind.value] = transaction_feature_value(kind, event_ms, units)
    return FeatureVector(values=values, spec_version=plan.version)


def spec_value(stat: Stat, slots: Sequence[int]) -> float | None:
    """The value of ``stat`` from its slots (see ``SLOT_WIDTHS``); ``None`` when missing."""
    return _DECODERS[stat](slots, 0)


def _count(row: Sequence[int], i: int) -> float | None:
    return None if row[i] == MISSING else float(row[i])


def _sum(row: Sequence[int], i: int) -> float | None:
    return amount_value(row[i] + row[i + 1] * SUM_LIMB)


def _mean(row: Sequence[int], i: int) -> float | None:
    return _present(mean_value(row[i] + row[i + 1] * SUM_LIMB, row[i + 2]))


def _max(row: Sequence[int], i: int) -> float | None:
    return None if row[i] == MISSING else amount_value(row[i])


def _seconds(row: Sequence[int], i: int) -> float | None:
    return None if row[i] == MISSING else seconds_value(row[i])


def _zscore(row: Sequence[int], i: int) -> float | None:
    count, low, high, l0, l1, l2, cents = row[i : i + 7]
    squares = l0 + (l1 + l2 * SQUARE_LIMB) * SQUARE_LIMB
    return _present(zscore_value(count, low + high * SUM_LIMB, squares, cents))


def _share(row: Sequence[int], i: int) -> float | None:
    return _present(share_value(row[i], row[i + 1]))


def _present(value: float) -> float | None:
    return None if math.isnan(value) else value


def _missing_or(decode: Callable[[Sequence[int], int], float | None]) -> _Decoder:
    """``decode``, except that a first slot of MISSING (a null entity) gives ``None``."""

    def decoder(row: Sequence[int], i: int) -> float | None:
        return None if row[i] == MISSING else decode(row, i)

    return decoder


_Decoder = Callable[[Sequence[int], int], float | None]
_DECODERS: dict[Stat, _Decoder] = {
    Stat.COUNT: _count,
    Stat.DISTINCT: _count,
    Stat.FIRST_SEEN: _count,
    Stat.SUM: _missing_or(_sum),
    Stat.MEAN: _missing_or(_mean),
    Stat.MAX: _max,
    Stat.SECONDS_SINCE_LAST: _seconds,
    Stat.ZSCORE: _missing_or(_zscore),
    Stat.FRAUD_COUNT: _count,
    Stat.FRAUD_SHARE: _missing_or(_share),
}
"""Per statistic: its value from the slots starting at index ``i`` of a row (``SLOT_WIDTHS``)."""


def decode_state(raw: bytes, parts: int) -> list[Any]:
    """A state value as its ``parts`` MessagePack objects (3 for exact state: header, values,
    events; 1 + resolutions for bucketed state; one more when the header's third number says
    known frauds follow), for inspection and tests (docs §7)."""
    if not 1 <= parts <= _MAX_FIXARRAY:
        raise ValueError(f"a state value has 1 to {_MAX_FIXARRAY} parts, not {parts}")
    parsed: list[Any] = msgspec.msgpack.decode(bytes([_FIXARRAY | parts]) + raw)
    return parsed
