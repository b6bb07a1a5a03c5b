"""Wire schemas: what clients send and receive, derived from ``core.models`` where they overlap.

Request structs are strict: unknown fields, wrong types and values that break the core checks
(negative, NaN or infinite amounts, unknown currency or country codes, naive timestamps) are
decoding errors located at the field. Responses reuse the core structs directly (a
:class:`core.models.Decision` is its own wire form); amounts travel as decimal strings.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from core.alerts import AlertLabel
from core.labels import LabelSourceName
from core.models import AwareDatetime, Decision, Identifier, Transaction
from storage.repository import MAX_NOTE_LENGTH, Alert


class TransactionIn(Transaction, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A transaction as a client sends it: the core :class:`Transaction`, ``timestamp`` optional.

    Every other field, constraint and check is inherited, so the wire schema cannot drift from
    the core one. ``amount`` may be a JSON number or a decimal string (both are read exactly;
    responses always use strings). A missing ``timestamp`` means "now" (the gateway's clock at
    arrival); :func:`serving.intake.admit` is the only place a ``TransactionIn`` becomes a
    ``Transaction``.
    """

    # The wire form widens ``timestamp`` to optional. A TransactionIn never leaves serving/:
    # intake.admit() turns it into a real Transaction, so nothing reads a ``None`` timestamp.
    timestamp: AwareDatetime | None = None  # type: ignore[assignment]


class TransactionBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Several transactions scored in one request; results come back in the same order."""

    items: Annotated[list[TransactionIn], msgspec.Meta(min_length=1)]


class BatchDecisions(msgspec.Struct, frozen=True, kw_only=True):
    """One decision per submitted transaction, ``decisions[i]`` answering ``items[i]``."""

    decisions: list[Decision]


class LabelIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An investigator's verdict on an alert."""

    label: AlertLabel
    note: Annotated[str, msgspec.Meta(max_length=MAX_NOTE_LENGTH)] | None = None


class LabelItemIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One known outcome sent in bulk: ``transaction_id`` is ``label``, known from ``known_at``.

    ``known_at`` must include a timezone; without it, the gateway's clock at arrival. ``source``
    names where the label came from (``chargeback``, ``dispute``, ...; lower case, digits, ``_``
    and ``-``); without it, ``api``.
    """

    transaction_id: Identifier
    label: AlertLabel
    known_at: AwareDatetime | None = None
    source: LabelSourceName | None = None


class LabelBatchIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Labels to record; the answer has one result per item, in the same order."""

    items: Annotated[list[LabelItemIn], msgspec.Meta(min_length=1)]


class ScaleIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The replica count to run a deployment with (at most the engine's configured maximum)."""

    replicas: Annotated[int, msgspec.Meta(ge=1)]


class ChallengerIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The registered model version to score in shadow; ``null`` stops shadow scoring."""

    version: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None


class AlertList(msgspec.Struct, frozen=True, kw_only=True):
    """One page of alerts, newest first; ``next_cursor`` fetches the next page (``None``: last)."""

    items: list[Alert]
    next_cursor: str | None
