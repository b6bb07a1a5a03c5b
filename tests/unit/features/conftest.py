"""Builders of small transaction frames for the feature tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest

START = pd.Timestamp("2024-01-01T00:00:00Z")
"""A Monday, 00:00 UTC."""

_DEFAULTS: dict[str, Any] = {
    "account_id": "a",
    "amount": 10.0,
    "currency": "EUR",
    "merchant_id": "m1",
    "merchant_category": "5411",
    "country": "FR",
    "channel": "pos",
    "device_id": "d1",
    "ip_address": None,
}

FrameBuilder = Callable[[Sequence[dict[str, Any]]], pd.DataFrame]


def build_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A canonical transaction frame; each row gives `ms` (offset from START) and overrides."""
    records = []
    for index, row in enumerate(rows):
        record = {**_DEFAULTS, **{k: v for k, v in row.items() if k != "ms"}}
        record["transaction_id"] = f"t{index}"
        record["timestamp"] = START + pd.Timedelta(milliseconds=row["ms"])
        records.append(record)
    columns = ["transaction_id", "timestamp", *_DEFAULTS]
    frame = pd.DataFrame(records, columns=columns)
    frame["amount"] = frame["amount"].astype("float64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


@pytest.fixture(scope="session")
def make_frame() -> FrameBuilder:
    """The frame builder, as a fixture (test modules cannot import each other)."""
    return build_frame
