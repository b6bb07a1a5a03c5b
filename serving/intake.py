"""From decoded wire structs to core transactions: defaults and checks that need the clock.

Pure functions: the arrival time and the limits are parameters. A missing ``timestamp`` becomes
the arrival time; a timestamp further in the future than the allowed clock skew is rejected, as
is a currency the engine's FX table has no rate for, a batch over the size limit or one that
repeats a ``transaction_id``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from config.fx import FxTable
from core.errors import InvalidInputError, Problem
from core.models import Transaction
from serving.wire import TransactionBatch, TransactionIn

REJECTED: Final = "the transaction was rejected"
BATCH_REJECTED: Final = "the batch was rejected"

_FIELDS: Final = Transaction.__struct_fields__


def admit(
    wire: TransactionIn,
    *,
    arrived_at: datetime,
    max_future_skew: timedelta,
    fx: FxTable | None = None,
) -> Transaction:
    """``wire`` as a core :class:`Transaction`; :class:`InvalidInputError` naming the field.

    With ``fx``, a currency without an exchange rate is refused (``$.currency``)."""
    problems = _timestamp_problems(wire, arrived_at, max_future_skew, "$")
    problems += _currency_problems(wire, fx, "$")
    if problems:
        raise InvalidInputError(REJECTED, problems)
    return _to_core(wire, arrived_at)


def admit_batch(
    batch: TransactionBatch,
    *,
    arrived_at: datetime,
    max_future_skew: timedelta,
    max_items: int,
    fx: FxTable | None = None,
) -> list[Transaction]:
    """Every item of ``batch`` as a core transaction, in order; all problems reported at once
    (with ``fx``, each currency without an exchange rate: ``$.items[i].currency``)."""
    if len(batch.items) > max_items:
        raise InvalidInputError(
            BATCH_REJECTED,
            [Problem("$.items", f"has {len(batch.items)} transactions; at most {max_items}")],
        )
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    for index, wire in enumerate(batch.items):
        location = f"$.items[{index}]"
        problems.extend(_timestamp_problems(wire, arrived_at, max_future_skew, location))
        problems.extend(_currency_problems(wire, fx, location))
        seen_at = first_index.setdefault(wire.transaction_id, index)
        if seen_at != index:
            problems.append(
                Problem(
                    f"{location}.transaction_id",
                    f"{wire.transaction_id!r} repeats $.items[{seen_at}].transaction_id",
                )
            )
    if problems:
        raise InvalidInputError(BATCH_REJECTED, problems)
    return [_to_core(wire, arrived_at) for wire in batch.items]


def _timestamp_problems(
    wire: TransactionIn, arrived_at: datetime, max_future_skew: timedelta, location: str
) -> list[Problem]:
    if wire.timestamp is None or wire.timestamp - arrived_at <= max_future_skew:
        return []
    ahead = (wire.timestamp - arrived_at).total_seconds()
    return [
        Problem(
            f"{location}.timestamp",
            f"is {ahead:.0f} s after the gateway's clock ({arrived_at.isoformat()}); "
            f"at most {max_future_skew.total_seconds():.0f} s ahead is accepted",
        )
    ]


def _currency_problems(wire: TransactionIn, fx: FxTable | None, location: str) -> list[Problem]:
    if fx is None or fx.has_rate(wire.currency):
        return []
    return [fx.missing_rate(wire.currency, f"{location}.currency")]


def _to_core(wire: TransactionIn, arrived_at: datetime) -> Transaction:
    values = {name: getattr(wire, name) for name in _FIELDS}
    if wire.timestamp is None:
        values["timestamp"] = arrived_at
    return Transaction(**values)
