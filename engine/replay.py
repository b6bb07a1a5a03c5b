"""Idempotent scoring: a retried ``transaction_id`` gets its stored decision back.

The decision sink keeps each decision under its ``transaction_id`` for the replay window
(``idempotency_window_s``). Before a batch is scored, the pipeline recalls the batch's ids:

* not seen → scored as usual;
* seen with the same payload → the stored decision, unchanged; no stage is called, so the
  account's velocity features do not move;
* seen with another payload → :class:`core.errors.ConflictError` (409) naming the fields that
  differ.

``timestamp`` is not compared: a client that omits it gets the arrival time, which differs on
every retry. After the window the features store still records each id once (its own 24 h
record) and the writer stores each id once, so a late retry neither double-counts nor
duplicates; it is decided again.
"""

from __future__ import annotations

from typing import Final

from core.errors import ConflictError, Problem
from core.models import Transaction

IGNORED_FIELDS: Final = frozenset({"timestamp"})
"""Fields a retry may change without being a different payload."""


def differing_fields(stored: Transaction, retried: Transaction) -> list[str]:
    """The fields (other than :data:`IGNORED_FIELDS`) whose values differ, in schema order."""
    return [
        name
        for name in stored.__struct_fields__
        if name not in IGNORED_FIELDS and getattr(stored, name) != getattr(retried, name)
    ]


def replay_conflict(stored: Transaction, retried: Transaction) -> ConflictError | None:
    """The 409 for ``retried`` if it reuses ``stored``'s id with a different payload."""
    fields = differing_fields(stored, retried)
    if not fields:
        return None
    return ConflictError(
        f"transaction_id {stored.transaction_id!r} was already scored with a different payload;"
        " send a new transaction_id for a new transaction",
        [Problem(f"$.{name}", "differs from the payload first sent") for name in fields],
    )
