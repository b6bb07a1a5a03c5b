"""The decision stream's entry format, written down once.

An entry of ``vigil:decisions`` has two fields:

* ``v`` — the format version, ``b"1"``;
* ``r`` — a :class:`core.records.DecisionRecord` (transaction, decision, arrival time) encoded
  as MessagePack by msgspec. Datetimes travel as MessagePack timestamps (UTC), amounts as decimal
  strings.

Decoding validates everything the gateway validated (the ``Transaction`` checks run again), so a
corrupt or foreign entry is rejected here with a message naming the field, never half-written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import msgspec

from core.errors import InvalidInputError, Problem
from core.records import DecisionRecord

VERSION_FIELD: Final = b"v"
RECORD_FIELD: Final = b"r"
FORMAT_VERSION: Final = b"1"

_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(DecisionRecord)


def encode_record(record: DecisionRecord) -> bytes:
    """``record`` as MessagePack (the ``r`` field of a stream entry)."""
    return _encoder.encode(record)


def decode_record(payload: bytes, location: str) -> DecisionRecord:
    """The record :func:`encode_record` made; :class:`InvalidInputError` naming ``location``."""
    try:
        return _decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise InvalidInputError(
            f"{location} is not a decision record", [Problem("r", str(exc))]
        ) from None


def encode_entry(record: DecisionRecord) -> dict[bytes, bytes]:
    """The stream entry fields for ``record``."""
    return entry_fields(encode_record(record))


def entry_fields(encoded_record: bytes) -> dict[bytes, bytes]:
    """The stream entry fields for a record already encoded with :func:`encode_record`."""
    return {VERSION_FIELD: FORMAT_VERSION, RECORD_FIELD: encoded_record}


def decode_entry(entry_id: str, fields: Mapping[bytes, bytes]) -> DecisionRecord:
    """The record in a stream entry; raise :class:`InvalidInputError` saying what is wrong."""
    location = f"stream entry {entry_id}"
    version = fields.get(VERSION_FIELD)
    if version != FORMAT_VERSION:
        raise InvalidInputError(
            f"{location} is not a decision record",
            [Problem("v", f"format version {version!r} is not {FORMAT_VERSION!r}")],
        )
    payload = fields.get(RECORD_FIELD)
    if payload is None:
        raise InvalidInputError(
            f"{location} is not a decision record", [Problem("r", "field is missing")]
        )
    return decode_record(payload, location)
