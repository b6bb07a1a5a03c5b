"""The features stage fails a transaction whose currency has no exchange rate alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from config.fx import FxTable
from core.models import Channel, FeatureVector, Transaction
from engine.contracts import StageFailure
from engine.stages import FEATURES, FeatureStage


class RecordingStore:
    """Answers one empty vector per transaction and remembers what it was given."""

    def __init__(self) -> None:
        self.recorded: list[str] = []

    async def record_each(self, txns: Sequence[Transaction]) -> list[FeatureVector]:
        self.recorded += [txn.transaction_id for txn in txns]
        return [FeatureVector(values={}, spec_version="v") for _ in txns]


def _txn(transaction_id: str, currency: str) -> Transaction:
    return Transaction(
        transaction_id=transaction_id,
        account_id="a",
        amount=Decimal(10),
        currency=currency,
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        merchant_id="m",
        merchant_category="5411",
        country="FR",
        channel=Channel.POS,
    )


async def test_a_currency_without_a_rate_fails_only_its_row() -> None:
    """The other rows are recorded and answered in order; the unconvertible one is not recorded."""
    store = RecordingStore()
    stage = FeatureStage(cast(Any, store), FxTable("USD", {"EUR": Decimal("1.1")}))
    rows = await stage.compute([_txn("a", "EUR"), _txn("b", "CHF"), _txn("c", "USD")])
    assert store.recorded == ["a", "c"]
    assert isinstance(rows[0], FeatureVector)
    assert rows[1] == StageFailure(stage=FEATURES, message="currency CHF has no exchange rate")
    assert isinstance(rows[2], FeatureVector)
