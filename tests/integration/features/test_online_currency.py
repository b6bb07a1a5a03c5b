"""Parity with mixed currencies: the online store converts amounts to the base currency exactly
as the offline computation does, bit for bit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
from redis.asyncio import Redis

from config.fx import FxTable
from features.definitions import FeatureSet, FeatureSpec, Stat, TransactionFeatureKind
from features.offline import compute_features
from features.online import OnlineFeatureStore

FX = FxTable(
    "USD",
    {
        "EUR": Decimal("1.086956522"),
        "JPY": Decimal("0.006666666667"),
        "IDR": Decimal("0.0000625"),
        "KWD": Decimal("3.2573289902280130293"),
    },
)
MIXED = FeatureSet(
    windowed=tuple(
        FeatureSpec(entity=entity, stat=stat, window=window)
        for entity in ("account_id", "merchant_id")
        for stat in (Stat.SUM, Stat.MEAN, Stat.MAX, Stat.ZSCORE)
        for window in ("1h", "24h")
    ),
    per_transaction=(TransactionFeatureKind.AMOUNT,),
    fx=FX,
)


async def test_mixed_currency_stream_matches_the_offline_features(
    store_redis: Redis, kit: Any
) -> None:
    """Accounts paying in JPY, EUR, USD, IDR and KWD (amounts whose conversion rounds half up,
    and one past int64 in the conversion) get the offline features bit for bit."""
    rng = np.random.default_rng(5)
    currencies = ["JPY", "EUR", "USD", "IDR", "KWD"]
    rows = [
        {
            "ms": 37_000 * i,
            "account_id": f"a{i % 3}",
            "merchant_id": f"m{i % 2}",
            "currency": currencies[i % len(currencies)],
            "amount": float(round(rng.lognormal(4, 2), 2)),
        }
        for i in range(120)
    ]
    rows += [{"ms": 37_000 * 120, "currency": "KWD", "amount": 999999999.9999}]
    rows += [{"ms": 37_000 * 121, "currency": "JPY", "amount": 99144.0}]
    frame = kit.frame(rows)
    offline = compute_features(frame, MIXED)
    store = OnlineFeatureStore(store_redis, MIXED, bucketed={})
    await store.load_scripts()
    vectors = await store.record_and_compute(kit.transactions(frame))
    online = kit.vectors_frame(vectors, MIXED.names).set_axis(frame.index)
    mismatched = [
        name for name in MIXED.names if not kit.same_bits(online[name], offline[name]).all()
    ]
    assert mismatched == []
    assert online["amount"].iloc[-1] == 660.96
