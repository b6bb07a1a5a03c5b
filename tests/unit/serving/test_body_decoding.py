"""Strict decoding of wire bodies: every problem is a 400-worthy Problem located at its field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from core.errors import InvalidInputError, Problem
from serving.decoding import decode_json, decode_json_items, is_json_media_type, located_problem
from serving.wire import TransactionIn
from tests.unit.serving.gateway_fakes import transaction_body


def _encode(body: dict[str, Any]) -> bytes:
    return msgspec.json.encode(body)


def _problems(body: bytes) -> list[Problem]:
    with pytest.raises(InvalidInputError) as caught:
        decode_json(body, TransactionIn)
    return caught.value.problems


def test_valid_body_decodes_with_exact_decimal_amount() -> None:
    """A JSON number amount keeps its exact decimal digits (no float rounding)."""
    body = _encode(transaction_body()).replace(b'"42.50"', b"0.1")
    wire = decode_json(body, TransactionIn)
    assert str(wire.amount) == "0.1"
    assert wire.timestamp is None


@pytest.mark.parametrize("amount", [0, "0", "0.0000"])
def test_zero_amount_is_accepted(amount: object) -> None:
    """A zero amount (a card verification) decodes to Decimal zero."""
    wire = decode_json(_encode(transaction_body(amount=amount)), TransactionIn)
    assert wire.amount == 0


@pytest.mark.parametrize(
    ("overrides", "location", "fragment"),
    [
        ({"amount": -5}, "$.amount", "0 or more"),
        ({"amount": "-0.0001"}, "$.amount", "0 or more"),
        ({"amount": "NaN"}, "$.amount", "finite"),
        ({"amount": "Infinity"}, "$.amount", "finite"),
        ({"amount": "-Infinity"}, "$.amount", "finite"),
        ({"amount": True}, "$.amount", "Expected `decimal`"),
        ({"amount": "12.345678"}, "$.amount", "decimal places"),
        ({"currency": "ZZZ"}, "$.currency", "ISO 4217"),
        ({"currency": "eur"}, "$.currency", "matching regex"),
        ({"country": "XX"}, "$.country", "ISO 3166"),
        ({"merchant_category": "54"}, "$.merchant_category", "matching regex"),
        ({"channel": "carrier-pigeon"}, "$.channel", "Invalid enum value"),
        ({"timestamp": "2026-03-01T09:00:00"}, "$.timestamp", "timezone"),
        ({"timestamp": "yesterday"}, "$.timestamp", "Invalid RFC3339"),
        ({"ip_address": "300.1.1.1"}, "$.ip_address", "IPv4 or IPv6"),
        ({"transaction_id": ""}, "$.transaction_id", "length >= 1"),
        ({"account_id": 7}, "$.account_id", "Expected `str`, got `int`"),
        ({"attributes": {"bad key": 1}}, "$.attributes", "a key is invalid"),
        ({"colour": "red"}, "$.colour", "unknown field"),
    ],
)
def test_bad_field_is_located(overrides: dict[str, Any], location: str, fragment: str) -> None:
    """Each kind of bad value is reported at its own JSON path with a message saying why."""
    [problem] = _problems(_encode(transaction_body(**overrides)))
    assert problem.location == location
    assert fragment in problem.message


def test_missing_required_field_is_located() -> None:
    """A missing required field is reported at the field it should have been."""
    body = transaction_body()
    del body["currency"]
    assert _problems(_encode(body)) == [Problem("$.currency", "required field is missing")]


@pytest.mark.parametrize(
    "body", [b"{", b"not json", b'{"amount": NaN}', b"\xff\xfe", b'{"transaction_id": "t-1",}']
)
def test_malformed_json_is_a_problem_at_the_root(body: bytes) -> None:
    """Bytes that are not JSON are reported at ``$`` as malformed JSON."""
    [problem] = _problems(body)
    assert problem.location == "$"
    assert problem.message.startswith("JSON is malformed")


def test_wrong_top_level_type_is_located_at_the_root() -> None:
    """A JSON array where an object belongs is reported at ``$``."""
    assert _problems(b"[1, 2]") == [Problem("$", "Expected `object`, got `array`")]


def test_items_are_decoded_one_by_one_and_every_bad_item_reported() -> None:
    """Each bad item of an array is reported at ``base[i]``, not only the first."""
    raws = [
        msgspec.Raw(_encode(transaction_body())),
        msgspec.Raw(_encode(transaction_body(currency="ZZZ"))),
        msgspec.Raw(_encode(transaction_body(amount={"value": 1}))),
    ]
    with pytest.raises(InvalidInputError) as caught:
        decode_json_items(raws, TransactionIn, "$.items")
    assert [p.location for p in caught.value.problems] == [
        "$.items[1].currency",
        "$.items[2].amount",
    ]


def test_located_problem_keeps_nested_paths_under_the_base() -> None:
    """msgspec's own path is appended to the base path."""
    error = msgspec.ValidationError("Expected `str`, got `int` - at `$.attributes[...]`")
    assert located_problem(error, "$.items[4]") == Problem(
        "$.items[4].attributes[...]", "Expected `str`, got `int`"
    )


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/merge-patch+json", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("", False),
        (None, False),
    ],
)
def test_json_media_types(content_type: str | None, expected: bool) -> None:
    """Only JSON media types (including ``+json`` suffixes) are accepted as JSON bodies."""
    assert is_json_media_type(content_type) is expected
