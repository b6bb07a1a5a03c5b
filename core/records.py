"""The decision-stream record: what the hot path hands to the writer and the web app.

One :class:`DecisionRecord` is one entry of the decision stream: the transaction as received, the
decision Vigil answered, and when the request arrived. How it is encoded on the stream is written
down once in ``storage.codec``.
"""

from __future__ import annotations

import msgspec

from core.models import AwareDatetime, Decision, Transaction


class ShadowScore(msgspec.Struct, frozen=True, kw_only=True):
    """A challenger model's risk for the transaction: stored for comparison, never acted on."""

    model_version: str
    risk: float


class DecisionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the hot path hands to the writer: the transaction, its decision, when it arrived,
    and the challenger's shadow score when one is live."""

    transaction: Transaction
    decision: Decision
    received_at: AwareDatetime
    shadow: ShadowScore | None = None

    def __post_init__(self) -> None:
        """The decision must be about this transaction."""
        if self.decision.transaction_id != self.transaction.transaction_id:
            raise ValueError(
                f"decision is for transaction {self.decision.transaction_id!r}, "
                f"not {self.transaction.transaction_id!r}"
            )
