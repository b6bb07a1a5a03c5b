"""Admitting wire transactions: arrival-time defaults, clock skew, batch size and duplicates."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import msgspec
import pytest

from config.fx import FxTable
from core.errors import InvalidInputError
from core.models import Transaction
from serving.intake import admit, admit_batch
from serving.wire import TransactionBatch, TransactionIn
from tests.unit.serving.gateway_fakes import NOW, transaction_body

SKEW = timedelta(minutes=5)


def _wire(**overrides: object) -> TransactionIn:
    return msgspec.convert(transaction_body(**overrides), TransactionIn, strict=False)


def test_missing_timestamp_defaults_to_arrival_time() -> None:
    """A transaction sent without a timestamp happened when it arrived."""
    txn = admit(_wire(), arrived_at=NOW, max_future_skew=SKEW)
    assert type(txn) is Transaction
    assert txn.timestamp == NOW


def test_given_timestamp_is_kept() -> None:
    """A client's event time is kept as sent, even when it is in the past."""
    past = NOW - timedelta(days=3)
    assert admit(_wire(timestamp=past), arrived_at=NOW, max_future_skew=SKEW).timestamp == past


def test_timestamp_within_skew_is_accepted() -> None:
    """A timestamp slightly ahead of the gateway's clock (within the skew) is fine."""
    ahead = NOW + SKEW
    assert admit(_wire(timestamp=ahead), arrived_at=NOW, max_future_skew=SKEW).timestamp == ahead


def test_timestamp_beyond_skew_is_rejected_at_the_field() -> None:
    """A timestamp further in the future than the skew allows is a problem at $.timestamp."""
    with pytest.raises(InvalidInputError) as caught:
        admit(_wire(timestamp=NOW + timedelta(hours=1)), arrived_at=NOW, max_future_skew=SKEW)
    [problem] = caught.value.problems
    assert problem.location == "$.timestamp"
    assert "3600 s after" in problem.message


def test_batch_keeps_order_and_fills_each_timestamp() -> None:
    """Batch items become core transactions in the order they were sent."""
    batch = TransactionBatch(items=[_wire(transaction_id=f"t-{i}") for i in range(3)])
    txns = admit_batch(batch, arrived_at=NOW, max_future_skew=SKEW, max_items=3)
    assert [t.transaction_id for t in txns] == ["t-0", "t-1", "t-2"]
    assert {t.timestamp for t in txns} == {NOW}


def test_batch_over_the_limit_is_rejected() -> None:
    """A batch with more items than allowed is rejected at $.items, naming the limit."""
    batch = TransactionBatch(items=[_wire(transaction_id=f"t-{i}") for i in range(4)])
    with pytest.raises(InvalidInputError) as caught:
        admit_batch(batch, arrived_at=NOW, max_future_skew=SKEW, max_items=3)
    [problem] = caught.value.problems
    assert (problem.location, problem.message) == ("$.items", "has 4 transactions; at most 3")


def test_batch_reports_every_item_problem_at_once() -> None:
    """Repeated ids and future timestamps are all reported, each at its item."""
    batch = TransactionBatch(
        items=[
            _wire(transaction_id="a"),
            _wire(transaction_id="b", timestamp=NOW + timedelta(days=1)),
            _wire(transaction_id="a"),
        ]
    )
    with pytest.raises(InvalidInputError) as caught:
        admit_batch(batch, arrived_at=NOW, max_future_skew=SKEW, max_items=10)
    locations = [p.location for p in caught.value.problems]
    assert locations == ["$.items[1].timestamp", "$.items[2].transaction_id"]
    assert "repeats $.items[0].transaction_id" in caught.value.problems[1].message


def test_a_currency_without_an_exchange_rate_is_refused_at_the_field() -> None:
    """With the engine's FX table, a currency it cannot convert is a 400 naming $.currency."""
    fx = FxTable("USD", {"EUR": Decimal("1.1")})
    admit(_wire(currency="EUR"), arrived_at=NOW, max_future_skew=SKEW, fx=fx)
    with pytest.raises(InvalidInputError) as caught:
        admit(_wire(currency="CHF"), arrived_at=NOW, max_future_skew=SKEW, fx=fx)
    [problem] = caught.value.problems
    assert problem.location == "$.currency"
    assert "'CHF' has no exchange rate" in problem.message


def test_a_batch_names_each_item_without_a_rate() -> None:
    """Batch items in unconvertible currencies are reported as $.items[i].currency."""
    fx = FxTable("USD", {"EUR": Decimal("1.1")})
    batch = TransactionBatch(
        items=[_wire(transaction_id="a"), _wire(transaction_id="b", currency="JPY")]
    )
    with pytest.raises(InvalidInputError) as caught:
        admit_batch(batch, arrived_at=NOW, max_future_skew=SKEW, max_items=10, fx=fx)
    assert [p.location for p in caught.value.problems] == ["$.items[1].currency"]
