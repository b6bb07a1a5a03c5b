"""Known outcomes: a transaction labelled fraud or legit, and when that became known.

Labels arrive from investigators (the web app, ``POST /v1/alerts/{id}/label``), in bulk
(``POST /v1/labels``, ``vigil labels import`` for chargeback and dispute files) and from training
data. Each has a *known-at* time: label-aware features and training may use a label only for
transactions after it was known, so neither ever sees the future.

:class:`KnownLabel` is what is stored and what the online feature store is told. It carries the
labelled transaction's entities (account, merchant, device, IP) and event time so the store can
count known fraud per entity without a database lookup on the hot path.
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from core.alerts import AlertLabel
from core.models import AwareDatetime, Identifier

LabelSourceName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=32, pattern=r"\A[a-z][a-z0-9_-]*\Z")
]
"""Where a label came from: ``analyst``, ``chargeback``, ``dispute``, ``import``, ..."""


class LabelSource(enum.StrEnum):
    """The label sources Vigil itself produces (clients may name others)."""

    ANALYST = "analyst"
    """An investigator's verdict on an alert (the web app, ``POST /v1/alerts/{id}/label``)."""
    API = "api"
    """``POST /v1/labels`` without a ``source``."""
    IMPORT = "import"
    """``vigil labels import`` without a ``source`` in its mapping."""


class KnownLabel(msgspec.Struct, frozen=True, kw_only=True):
    """One label of one transaction, known from ``known_at``, with the transaction's entities."""

    transaction_id: Identifier
    label: AlertLabel
    known_at: AwareDatetime
    source: LabelSourceName
    account_id: Identifier
    merchant_id: Identifier
    device_id: Identifier | None = None
    ip_address: str | None = None
    event_time: AwareDatetime
    """When the labelled transaction happened."""

    @property
    def is_fraud(self) -> bool:
        """Whether this label says fraud."""
        return self.label is AlertLabel.FRAUD


class LabelStatus(enum.StrEnum):
    """What became of one submitted label."""

    RECORDED = "recorded"
    """Stored as a new label event."""
    UNCHANGED = "unchanged"
    """The same label event (transaction, label, known-at, source) was stored before."""
    UNKNOWN_TRANSACTION = "unknown_transaction"
    """No such transaction is stored (yet: decisions reach PostgreSQL a moment after scoring)."""
    KNOWN_BEFORE_TRANSACTION = "known_before_transaction"
    """``known_at`` is earlier than the transaction itself: not stored (it would leak the label
    into the transaction's own features)."""


class LabelItemResult(msgspec.Struct, frozen=True, kw_only=True):
    """The answer for one submitted label, in the order they were sent."""

    transaction_id: str
    status: LabelStatus
    label: AlertLabel
    known_at: AwareDatetime
    """As stored (the arrival time when the item gave none)."""
    source: str
    current: AlertLabel | None = None
    """The transaction's label now (latest ``known_at`` wins); ``None`` for unknown ones."""
    detail: str | None = None
    """Why the label was not stored, when it was not."""


class LabelBatchResult(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a batch of labels: one result per item and what reached the online store."""

    items: list[LabelItemResult]
    recorded: int
    unchanged: int
    unknown_transaction: int
    known_before_transaction: int
    online: bool
    """Whether the labels reached the online feature store (``false``: stored in PostgreSQL
    only, because no online store is configured or pushing to it failed)."""
    online_detail: str | None = None
    """Why ``online`` is false."""
