"""What "the same payload" means for one transaction_id: the replay check and the feature
store's digest agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from core.models import Channel, Transaction
from core.payload import COMPARED_FIELDS, DIGEST_BYTES, differing_fields, payload_digest

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _txn(**overrides: Any) -> Transaction:
    fields: dict[str, Any] = {
        "transaction_id": "t-1",
        "account_id": "acc-1",
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "timestamp": AT,
        "merchant_id": "m-1",
        "merchant_category": "5411",
        "country": "FR",
        "channel": Channel.POS,
        "device_id": "d-1",
        "attributes": {"tier": "gold", "score": 1, "flag": True},
        **overrides,
    }
    return Transaction(**fields)


def test_the_timestamp_is_the_only_field_not_compared() -> None:
    """Every Transaction field but timestamp takes part; a retry's timestamp never matters."""
    assert set(COMPARED_FIELDS) == set(Transaction.__struct_fields__) - {"timestamp"}
    moved = _txn(timestamp=AT + timedelta(hours=3))
    assert differing_fields(_txn(), moved) == []
    assert payload_digest(moved) == payload_digest(_txn())


@pytest.mark.parametrize(
    "same",
    [
        {"amount": Decimal("12.5")},
        {"amount": Decimal("12.5000")},
        {"attributes": {"flag": True, "score": 1, "tier": "gold"}},
        {"attributes": {"tier": "gold", "score": 1.0, "flag": 1}},
    ],
)
def test_equal_values_have_equal_digests(same: dict[str, Any]) -> None:
    """Values == compares equal (trailing zeros, attribute order, 1 / 1.0 / True) digest alike."""
    other = _txn(**same)
    assert differing_fields(_txn(), other) == []
    assert payload_digest(other) == payload_digest(_txn())


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        ({"amount": Decimal("12.51")}, "amount"),
        ({"currency": "USD"}, "currency"),
        ({"channel": Channel.ATM}, "channel"),
        ({"device_id": None}, "device_id"),
        ({"ip_address": "192.0.2.1"}, "ip_address"),
        ({"attributes": {"tier": "gold", "score": "1", "flag": True}}, "attributes"),
        ({"attributes": {"tier": "gold", "score": 1}}, "attributes"),
        ({"merchant_id": "m-2"}, "merchant_id"),
    ],
)
def test_a_different_value_gives_a_different_digest(changed: dict[str, Any], field: str) -> None:
    """Any compared field that differs changes the digest, and is the field the 409 names."""
    other = _txn(**changed)
    assert differing_fields(_txn(), other) == [field]
    assert payload_digest(other) != payload_digest(_txn())


def test_the_digest_is_stable_across_processes_and_versions() -> None:
    """8 bytes of BLAKE2b over a canonical encoding: pinned, since records outlive a deploy."""
    digest = payload_digest(_txn())
    assert len(digest) == DIGEST_BYTES
    assert digest == payload_digest(
        msgspec.json.decode(msgspec.json.encode(_txn()), type=Transaction)
    )
    assert digest.hex() == PINNED


PINNED = "5cefe4a10ae27a30"
