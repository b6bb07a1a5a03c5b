"""The features stage records known labels in one round trip, and the next transaction's
label-aware features (the shipped feature set, real Redis) count them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from redis.asyncio import Redis

from config.settings import load_settings
from core.alerts import AlertLabel
from core.labels import KnownLabel
from core.models import Channel, FeatureVector, Transaction
from engine.components import open_stage
from engine.stages import FEATURES, STAGE_METHODS, FeatureStage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DELAYED_A_DAY = "fraud_count_by_merchant_7d_delay1d"


def _txn(n: int, at: datetime, merchant: str = "mrc-lbl") -> Transaction:
    return Transaction(
        transaction_id=f"stage-lbl-{n}",
        account_id=f"acct-lbl-{n}",
        amount=Decimal("42.00"),
        currency="EUR",
        timestamp=at,
        merchant_id=merchant,
        merchant_category="5411",
        country="FR",
        channel=Channel.POS,
    )


def _label(txn: Transaction, known_at: datetime, label: AlertLabel) -> KnownLabel:
    return KnownLabel(
        transaction_id=txn.transaction_id,
        label=label,
        known_at=known_at,
        source="analyst",
        account_id=txn.account_id,
        merchant_id=txn.merchant_id,
        device_id=txn.device_id,
        ip_address=txn.ip_address,
        event_time=txn.timestamp,
    )


async def _features(stage: FeatureStage, txn: Transaction) -> dict[str, float | None]:
    (vector,) = await stage.compute([txn])
    assert isinstance(vector, FeatureVector)
    return vector.values


async def test_a_recorded_label_changes_the_next_transactions_features_within_a_second(
    redis_url: str, redis_client: Redis
) -> None:
    """A fraud verdict on a merchant's transaction, recorded by the features stage, is counted
    by the merchant's next transaction scored right after (within 1 s); a legit verdict known
    later takes it back; recording the same verdict again changes nothing."""
    del redis_client  # requested for the flush before the test
    assert "record_labels" in STAGE_METHODS[FEATURES]
    stage = await open_stage(FEATURES, load_settings(environ={}, redis_url=redis_url))
    assert isinstance(stage, FeatureStage)
    try:
        compromised = _txn(0, T0)
        assert (await _features(stage, compromised))[DELAYED_A_DAY] == 0.0
        # the verdict was known at T0; the shipped spec counts a label from a day after that
        fraud = _label(compromised, T0, AlertLabel.FRAUD)
        started = time.perf_counter()
        assert await stage.record_labels([fraud]) == 1
        after = await _features(stage, _txn(1, T0 + timedelta(days=2)))
        assert time.perf_counter() - started < 1.0
        assert after[DELAYED_A_DAY] == 1.0
        assert after["fraud_count_by_account_30d_delay1d"] == 0.0  # another account
        assert after["fraud_count_by_merchant_1d_delay1d"] == 0.0  # its transaction 2 days ago
        assert await stage.record_labels([fraud]) == 0
        assert (await _features(stage, _txn(2, T0 + timedelta(days=2))))[DELAYED_A_DAY] == 1.0
        legit = _label(compromised, T0 + timedelta(hours=1), AlertLabel.LEGIT)
        assert await stage.record_labels([legit]) == 1
        assert (await _features(stage, _txn(3, T0 + timedelta(days=3))))[DELAYED_A_DAY] == 0.0
    finally:
        await stage.aclose()
