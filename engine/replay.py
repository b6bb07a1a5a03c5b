"""Idempotent scoring: a retried ``transaction_id`` gets its stored decision back.

The decision sink keeps each decision under its ``transaction_id`` for the replay window
(``idempotency_window_s``). Before a batch is scored, the pipeline recalls the batch's ids:

* not seen → scored as usual;
* seen with the same payload → the stored decision, unchanged; no stage is called, so the
  account's velocity features do not move;
* seen with another payload → :class:`core.errors.ConflictError` (409) naming the fields that
  differ.

What "the same payload" means is written down once, in :mod:`core.payload`: ``timestamp`` is not
compared (a client that omits it gets the arrival time, which differs on every retry). After the
window the features store still records each id once (its own 24 h record) and the writer stores
each id once, so a late retry neither double-counts nor duplicates; it is decided again.

Requests in flight at the same time all miss the sink. The features store settles them: its
record of an id carries the payload digest, so the first payload recorded wins and every other
one comes back as :class:`core.payload.PayloadConflict`, which :func:`recorded_conflict` turns
into the same 409.
"""

from __future__ import annotations

from core.errors import ConflictError, Problem
from core.models import Transaction
from core.payload import IGNORED_FIELDS, differing_fields

__all__ = ["IGNORED_FIELDS", "differing_fields", "recorded_conflict", "replay_conflict"]

_DIFFERS = "differs from the payload first sent"


def replay_conflict(stored: Transaction, retried: Transaction) -> ConflictError | None:
    """The 409 for ``retried`` if it reuses ``stored``'s id with a different payload."""
    fields = differing_fields(stored, retried)
    if not fields:
        return None
    return _conflict(retried, [Problem(f"$.{name}", _DIFFERS) for name in fields])


def recorded_conflict(retried: Transaction, first: Transaction | None) -> ConflictError:
    """The 409 for ``retried``, whose id the features store recorded with another payload.

    ``first`` is that payload when the pipeline knows it (the same micro-batch, or the decision
    already kept for replays): the differing fields are named. Otherwise the first request is
    still in flight and only the id can be named.
    """
    fields = [] if first is None else differing_fields(first, retried)
    problems = [Problem(f"$.{name}", _DIFFERS) for name in fields] or [
        Problem("$.transaction_id", "was recorded with a different payload by a concurrent request")
    ]
    return _conflict(retried, problems)


def _conflict(retried: Transaction, problems: list[Problem]) -> ConflictError:
    return ConflictError(
        f"transaction_id {retried.transaction_id!r} was already scored with a different payload;"
        " send a new transaction_id for a new transaction",
        problems,
    )
