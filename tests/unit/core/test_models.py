"""The shared vocabulary validates what enters Vigil."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from core.models import Outcome, Transaction


def _payload(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "transaction_id": "t-1",
        "account_id": "acc-1",
        "amount": "12.50",
        "currency": "EUR",
        "timestamp": "2026-01-01T10:00:00+01:00",
        "merchant_id": "m-1",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "pos",
    }
    base.update(overrides)
    return base


def _decode(payload: dict[str, Any]) -> Transaction:
    return msgspec.json.decode(msgspec.json.encode(payload), type=Transaction)


def test_valid_transaction_decodes() -> None:
    """A well-formed payload becomes a Transaction with a Decimal amount and aware timestamp."""
    txn = _decode(_payload())
    assert txn.amount == Decimal("12.50")
    assert txn.timestamp.utcoffset() is not None
    assert txn.timestamp.astimezone(UTC) == datetime(2026, 1, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "-1", "0 or more"),
        ("amount", "NaN", "finite"),
        ("amount", "Infinity", "finite"),
        ("amount", "1.00001", "decimal places"),
        ("amount", "1000000001", "at most"),
        ("currency", "XYZ", "ISO 4217"),
        ("currency", "eur", "$.currency"),
        ("country", "ZZ", "ISO 3166"),
        ("timestamp", "2026-01-01T10:00:00", "timezone"),
        ("merchant_category", "54111", "$.merchant_category"),
        ("channel", "pigeon", "$.channel"),
        ("ip_address", "300.1.1.1", "ip_address"),
        ("transaction_id", "", "$.transaction_id"),
        ("transaction_id", "x" * 129, "$.transaction_id"),
        ("transaction_id", "t-1\n", "$.transaction_id"),
        ("merchant_category", "5732\n", "$.merchant_category"),
        ("currency", "EUR\n", "$.currency"),
        ("country", "FR\n", "$.country"),
        ("device_id", "dev\x00", "$.device_id"),
        ("timestamp", "0001-01-01T00:00:00+14:00", "timestamp"),
        ("timestamp", "9999-12-31T23:00:00-14:00", "timestamp"),
        ("timestamp", "1969-12-31T23:59:59+00:00", "timestamp"),
    ],
)
def test_invalid_field_is_rejected_with_its_name(field: str, value: str, message: str) -> None:
    """Each invalid field value is rejected with a message that names what is wrong."""
    with pytest.raises(msgspec.ValidationError, match=message.replace("$", r"\$")):
        _decode(_payload(**{field: value}))


def test_unknown_field_is_rejected() -> None:
    """A field the schema does not know is an error, not silently dropped."""
    with pytest.raises(msgspec.ValidationError, match="unknown field `colour`"):
        _decode(_payload(colour="red"))


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"k": 2**70}, "<= 9223372036854775807"),
        ({"k": -(2**64)}, ">= -9223372036854775808"),
        ({"k": "a\x00b"}, "regex"),
        ({"k\n": 1}, "`key` in `$.attributes`"),
        ({"k": "x" * 257}, "length <= 256"),
    ],
)
def test_attributes_storage_cannot_hold_are_rejected(
    attributes: dict[str, Any], message: str
) -> None:
    """Attribute values beyond 64-bit integers, text with NUL and odd keys are refused at intake."""
    with pytest.raises(msgspec.ValidationError, match=re.escape(message)):
        _decode(_payload(attributes=attributes))


def test_largest_accepted_values_still_decode() -> None:
    """The bounds are inclusive: 64-bit extremes and the earliest time are accepted."""
    txn = _decode(
        _payload(
            attributes={"big": 2**63 - 1, "small": -(2**63), "text": "é" * 256},
            timestamp="1970-01-01T00:00:00+00:00",
        )
    )
    assert txn.attributes["big"] == 2**63 - 1


def test_too_many_attributes_are_rejected() -> None:
    """The free-form attributes map is bounded."""
    with pytest.raises(msgspec.ValidationError, match="attributes"):
        _decode(_payload(attributes={f"k{i}": i for i in range(33)}))


def test_outcomes_are_ordered_by_severity() -> None:
    """allow < review < block, and the most severe of a list wins."""
    assert Outcome.ALLOW.severity < Outcome.REVIEW.severity < Outcome.BLOCK.severity
    assert Outcome.most_severe([Outcome.REVIEW, Outcome.BLOCK, Outcome.ALLOW]) is Outcome.BLOCK
    assert Outcome.most_severe([]) is Outcome.ALLOW
