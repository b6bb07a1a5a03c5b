"""What makes two payloads of one ``transaction_id`` the same: the idempotency contract.

A client retries with the same ``transaction_id`` and the same payload; the same id with another
payload is refused (409). Two checks apply it, and both read this module so they never disagree:

* the replay check (``engine.replay``) compares a retry with the stored transaction field by field
  (:func:`differing_fields`), to name every field that differs;
* the feature store, which sees concurrent requests too, keeps a :func:`payload_digest` in each
  transaction's idempotency record and compares digests inside its Lua script.

``timestamp`` is never compared (:data:`IGNORED_FIELDS`): a client that omits it gets the arrival
time, which differs on every retry, and the core :class:`~core.models.Transaction` no longer
knows whether the client sent it. A retry with another timestamp is therefore the same payload:
it gets the first transaction's decision and features (computed at the first event time).

Equal values have equal digests (``Decimal("12.5")`` and ``Decimal("12.50")``, an attribute ``1``
and ``1.0``, attributes in any order), exactly as ``==`` decides in :func:`differing_fields`.
"""

from __future__ import annotations

import enum
import hashlib
from decimal import Context, Decimal
from typing import Any, Final

import msgspec

from core.models import Transaction

IGNORED_FIELDS: Final = frozenset({"timestamp"})
"""Fields a retry may change without being a different payload."""
COMPARED_FIELDS: Final = tuple(
    name for name in Transaction.__struct_fields__ if name not in IGNORED_FIELDS
)
"""Every other field, in schema order."""
DIGEST_BYTES: Final = 8
"""A 64-bit digest: two different payloads of one id collide with probability 2**-64."""

_EXACT: Final = Context(prec=1_000)
"""Enough digits for any finite float or 64-bit integer: normalizing never rounds."""
_ENCODER: Final = msgspec.msgpack.Encoder()
_IGNORED_AT: Final = frozenset(
    index for index, name in enumerate(Transaction.__struct_fields__) if name in IGNORED_FIELDS
)


class PayloadConflict(msgspec.Struct, frozen=True, kw_only=True):
    """The feature store already recorded ``transaction_id`` with another payload.

    A feature stage's answer for such a row (instead of a feature vector): nothing was recorded
    for it and the first payload's features were not returned. The engine refuses the row (409).
    """

    transaction_id: str


def differing_fields(first: Transaction, other: Transaction) -> list[str]:
    """The fields (other than :data:`IGNORED_FIELDS`) whose values differ, in schema order."""
    return [name for name in COMPARED_FIELDS if getattr(first, name) != getattr(other, name)]


def payload_digest(txn: Transaction) -> bytes:
    """:data:`DIGEST_BYTES` bytes that are equal for two transactions exactly when
    :func:`differing_fields` finds no difference (up to hash collisions); stable across
    processes and versions (BLAKE2b over a canonical MessagePack encoding)."""
    values = msgspec.structs.astuple(txn)
    canonical = [
        value if value is None or value.__class__ is str else _canonical(value)
        for index, value in enumerate(values)
        if index not in _IGNORED_AT
    ]
    return hashlib.blake2b(_ENCODER.encode(canonical), digest_size=DIGEST_BYTES).digest()


def _canonical(value: Any) -> Any:
    """``value`` in a form whose encoding is equal exactly when the values are ``==``."""
    if value is None or isinstance(value, str):  # also a StrEnum (``==`` its text)
        return value
    if isinstance(value, Decimal | int | float):  # bool is an int
        return ("number", _number(value))
    if isinstance(value, dict):
        if not value:
            return _EMPTY_MAP
        return ("map", [(key, _canonical(value[key])) for key in sorted(value)])
    if isinstance(value, enum.Enum):
        return ("enum", _canonical(value.value))
    raise TypeError(f"no canonical form for {type(value).__name__} in a transaction payload")


_EMPTY_MAP: Final[tuple[str, tuple[()]]] = ("map", ())


def _number(value: Decimal | float) -> str:
    """The exact value as text, one spelling per value (``True``, ``1.0``, ``1.00`` → "1")."""
    exact = (value if isinstance(value, Decimal) else Decimal(value)).normalize(_EXACT)
    return "0" if exact.is_zero() else str(exact)
