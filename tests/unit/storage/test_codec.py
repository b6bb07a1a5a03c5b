"""The decision stream's entry format."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from core.errors import InvalidInputError
from core.models import Outcome
from core.records import DecisionRecord
from storage.codec import FORMAT_VERSION, RECORD_FIELD, VERSION_FIELD, decode_entry, encode_entry

MakeRecord = Callable[..., DecisionRecord]


def test_round_trip_keeps_every_field(make_record: MakeRecord) -> None:
    """A record encoded then decoded equals the original."""
    record = make_record(1, Outcome.BLOCK)
    assert decode_entry("1-0", encode_entry(record)) == record


def test_entry_carries_the_format_version(make_record: MakeRecord) -> None:
    """Entries say which format they use."""
    assert encode_entry(make_record(1))[VERSION_FIELD] == FORMAT_VERSION


def test_unknown_version_is_rejected_with_the_entry_id(make_record: MakeRecord) -> None:
    """An entry of another format version is not decoded as this one."""
    fields = {**encode_entry(make_record(1)), VERSION_FIELD: b"9"}
    with pytest.raises(InvalidInputError, match=r"(?s)stream entry 5-1 .*format version b'9'"):
        decode_entry("5-1", fields)


def test_missing_record_field_is_rejected() -> None:
    """An entry without the record field names the field."""
    with pytest.raises(InvalidInputError, match="r: field is missing"):
        decode_entry("1-0", {VERSION_FIELD: FORMAT_VERSION})


def test_garbage_bytes_are_rejected() -> None:
    """Bytes that are not MessagePack are an input error, not a crash."""
    with pytest.raises(InvalidInputError, match="not a decision record"):
        decode_entry("1-0", {VERSION_FIELD: FORMAT_VERSION, RECORD_FIELD: b"\xc1\xff"})


def test_transaction_checks_run_again_on_decode(make_record: MakeRecord) -> None:
    """A record whose transaction breaks the Transaction rules (a negative amount) is rejected."""
    raw: dict[str, Any] = msgspec.to_builtins(make_record(1))
    raw["transaction"]["amount"] = "-5"
    payload = msgspec.msgpack.encode(raw)
    with pytest.raises(InvalidInputError, match="amount"):
        decode_entry("1-0", {VERSION_FIELD: FORMAT_VERSION, RECORD_FIELD: payload})


def test_decision_must_be_about_the_transaction(make_record: MakeRecord) -> None:
    """A decision for another transaction cannot be paired with this one."""
    record = make_record(1)
    other = make_record(2)
    with pytest.raises(ValueError, match="decision is for transaction 't2', not 't1'"):
        DecisionRecord(
            transaction=record.transaction, decision=other.decision, received_at=record.received_at
        )


def test_amount_keeps_its_decimal_value(make_record: MakeRecord) -> None:
    """Amounts travel as decimals, not floats."""
    record = make_record(1, amount=Decimal("0.1"))
    assert decode_entry("1-0", encode_entry(record)).transaction.amount == Decimal("0.1")
