"""What goes into a script call and how reply rows become feature vectors (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from core.alerts import AlertLabel
from core.labels import KnownLabel
from core.models import Channel, Transaction
from core.payload import payload_digest
from features.definitions import FeatureSet, FeatureSpec, Stat, TransactionFeatureKind
from features.durations import event_time_ms
from features.formulas import amount_value, share_value, zscore_value
from features.online_codec import (
    COMPUTE_ONLY,
    RECORD,
    build_call,
    build_label_call,
    decode_state,
    field_value,
    spec_value,
    vector_from_row,
)
from features.online_plan import MISSING, SQUARE_LIMB, SUM_LIMB, KeySpace, StorePlan, build_plan

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _txn(i: int, **overrides: object) -> Transaction:
    fields: dict[str, object] = {
        "transaction_id": f"t{i}",
        "account_id": "a1",
        "amount": Decimal("12.34"),
        "currency": "EUR",
        "timestamp": T0,
        "merchant_id": "m1",
        "merchant_category": "5411",
        "country": "FR",
        "channel": Channel.POS,
        "device_id": "d1",
        **overrides,
    }
    return Transaction(**fields)  # type: ignore[arg-type]


def _plan(*specs: FeatureSpec, per_transaction: bool = False) -> StorePlan:
    kinds = (TransactionFeatureKind.AMOUNT, TransactionFeatureKind.HOUR_OF_DAY)
    feature_set = FeatureSet(windowed=specs, per_transaction=kinds if per_transaction else ())
    return build_plan(feature_set, bucketed={}, max_lateness_ms=0, idempotency_ttl_ms=1)


ACCOUNT_DISTINCT = FeatureSpec(entity="account_id", stat=Stat.DISTINCT, window="1h", of="device_id")
DEVICE_COUNT = FeatureSpec(entity="device_id", stat=Stat.COUNT, window="1h")


def test_call_lists_transaction_keys_then_each_state_key_once() -> None:
    """KEYS: idempotency keys in batch order, then state keys deduplicated across the batch."""
    plan = _plan(ACCOUNT_DISTINCT, DEVICE_COUNT)
    keys = KeySpace("p:")
    txns = [_txn(1), _txn(2, device_id=None), _txn(3, account_id="a2")]
    call = build_call(plan, keys, txns, record=True)
    account, device = plan.state_prefixes
    assert call.keys == [
        "p:t:t1",
        "p:t:t2",
        "p:t:t3",
        f"p:s:{account}a1",
        f"p:s:{device}d1",
        f"p:s:{account}a2",
    ]
    assert call.args[0] == RECORD
    ms = event_time_ms(T0)
    # per txn: event ms, units, cents, account (key index, device value), device (key index)
    assert msgspec.msgpack.decode(call.args[1]) == [
        *(ms, 123_400, 1_234, 4, "d1", 5),
        *(ms, 123_400, 1_234, 4, False, 0),
        *(ms, 123_400, 1_234, 6, "d1", 5),
    ]
    assert call.args[2] == b"".join(payload_digest(txn) for txn in txns)
    assert build_call(plan, keys, txns, record=False).args[0] == COMPUTE_ONLY


MERCHANT_FRAUD = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_COUNT, window="7d")
DEVICE_SHARE = FeatureSpec(entity="device_id", stat=Stat.FRAUD_SHARE, window="7d")


def _label(i: int, label: AlertLabel = AlertLabel.FRAUD, **overrides: object) -> KnownLabel:
    fields: dict[str, object] = {
        "transaction_id": f"t{i}",
        "label": label,
        "known_at": T0,
        "source": "api",
        "account_id": "a1",
        "merchant_id": "m1",
        "device_id": "d1",
        "event_time": T0,
        **overrides,
    }
    return KnownLabel(**fields)  # type: ignore[arg-type]


def test_label_aware_entities_use_their_state_key() -> None:
    """Known frauds live in the entity's state: a label-aware entity is one more state key, even
    with fraud_count alone."""
    plan = _plan(MERCHANT_FRAUD, DEVICE_SHARE)
    merchant, device = plan.state_prefixes
    call = build_call(plan, KeySpace("p:"), [_txn(1), _txn(2, device_id=None)], record=True)
    assert call.keys == ["p:t:t1", "p:t:t2", f"p:s:{merchant}m1", f"p:s:{device}d1"]
    ms = event_time_ms(T0)
    assert msgspec.msgpack.decode(call.args[1]) == [
        *(ms, 123_400, 1_234, 3, 4),
        *(ms, 123_400, 1_234, 3, 0),
    ]


def test_label_call_lists_records_then_each_state_once() -> None:
    """KEYS: label records in order, then entity states; ARGV: known ms, fraud, event ms, state
    indexes per label entity (0 for a null value)."""
    plan = _plan(MERCHANT_FRAUD, DEVICE_SHARE, DEVICE_COUNT)
    merchant, device = plan.state_prefixes
    later = datetime(2024, 1, 2, tzinfo=UTC)
    labels = [_label(1, known_at=later), _label(2, AlertLabel.LEGIT, device_id=None)]
    call = build_label_call(plan, KeySpace("p:"), labels)
    assert call.keys == ["p:l:t1", "p:l:t2", f"p:s:{merchant}m1", f"p:s:{device}d1"]
    ms = event_time_ms(T0)
    assert msgspec.msgpack.decode(call.args[0]) == [
        *(event_time_ms(later), 1, ms, 3, 4),
        *(ms, 0, ms, 3, 0),
    ]


def test_field_values_are_the_strings_features_compare() -> None:
    """Enums give their value, None stays None, other values their text."""
    txn = _txn(1, ip_address="192.0.2.1")
    assert field_value(txn, "channel") == "pos"
    assert field_value(txn, "ip_address") == "192.0.2.1"
    assert field_value(_txn(1, device_id=None), "device_id") is None


def test_sums_beyond_two_to_the_53_are_joined_exactly() -> None:
    """Sum limbs (low + high * 2**48) give the exact integer, rounded once like offline."""
    total = 2**53 + 12_345
    low, high = total % SUM_LIMB, total // SUM_LIMB
    assert spec_value(Stat.SUM, [low, high]) == amount_value(total)
    assert spec_value(Stat.MEAN, [low, high, 3]) == float(total) / (3.0 * 10_000)


def test_zscore_slots_rebuild_the_exact_sums_of_squares() -> None:
    """S2 = l0 + l1 * 2**24 + l2 * 2**48 and S1 from its limbs feed the shared formula."""
    cents = [10**11 - 1, 10**11 - 7, 3]
    s1, s2 = sum(cents), sum(c * c for c in cents)
    l0, l1, l2 = s2 % SQUARE_LIMB, (s2 // SQUARE_LIMB) % SQUARE_LIMB, s2 // SQUARE_LIMB**2
    slots = [3, s1 % SUM_LIMB, s1 // SUM_LIMB, l0, l1, l2, 42]
    assert spec_value(Stat.ZSCORE, slots) == zscore_value(3, s1, s2, 42)


@pytest.mark.parametrize(
    ("stat", "slots", "expected"),
    [
        (Stat.COUNT, [MISSING], None),
        (Stat.COUNT, [3], 3.0),
        (Stat.MAX, [MISSING], None),
        (Stat.MAX, [5], 0.0005),
        (Stat.FIRST_SEEN, [MISSING], None),
        (Stat.FIRST_SEEN, [0], 0.0),
        (Stat.SECONDS_SINCE_LAST, [MISSING], None),
        (Stat.SECONDS_SINCE_LAST, [1_500], 1.5),
        (Stat.MEAN, [0, 0, 0], None),
        (Stat.MEAN, [MISSING, MISSING, MISSING], None),
        (Stat.ZSCORE, [1, 5, 0, 25, 0, 0, 5], None),
        (Stat.SUM, [0, 0], 0.0),
        (Stat.FRAUD_COUNT, [MISSING], None),
        (Stat.FRAUD_COUNT, [2], 2.0),
        (Stat.FRAUD_SHARE, [MISSING, MISSING], None),
        (Stat.FRAUD_SHARE, [0, 0], None),
        (Stat.FRAUD_SHARE, [1, 3], share_value(1, 3)),
    ],
)
def test_missing_values_are_none(stat: Stat, slots: list[int], expected: float | None) -> None:
    """MISSING first slots and NaN results (empty mean, short z-score history) become None."""
    assert spec_value(stat, slots) == expected


def test_a_row_becomes_a_vector_in_feature_order() -> None:
    """Values map every name, in feature_set.names order, with the spec version."""
    plan = _plan(DEVICE_COUNT, ACCOUNT_DISTINCT, per_transaction=True)
    ms = event_time_ms(T0) + 3 * 3_600_000
    row = [plan.plan_id, ms, 123_400]
    row += [0] * plan.slot_count
    row[3 + {n: f for n, _, f in plan.windowed_slots}[DEVICE_COUNT.name]] = 7
    vector = vector_from_row(plan, row)
    assert list(vector.values) == list(plan.names)
    assert vector.values[DEVICE_COUNT.name] == 7.0
    assert vector.values["amount"] == 12.34
    assert vector.values["hour_of_day"] == 3.0
    assert vector.spec_version == plan.version


def test_a_row_of_another_plan_has_missing_windowed_features() -> None:
    """A record written under other specs keeps only its per-transaction features."""
    plan = _plan(DEVICE_COUNT, per_transaction=True)
    vector = vector_from_row(plan, [plan.plan_id + 1, event_time_ms(T0), 10_000, 5])
    assert vector.values == {DEVICE_COUNT.name: None, "amount": 1.0, "hour_of_day": 0.0}


def test_state_values_split_into_their_parts() -> None:
    """decode_state reads concatenated MessagePack objects (header, values, events)."""
    raw = b"".join(msgspec.msgpack.encode(part) for part in ([1, 99], ["m1"], [0, 5, 1]))
    assert decode_state(raw, 3) == [[1, 99], ["m1"], [0, 5, 1]]
    with pytest.raises(ValueError, match="1 to 15 parts"):
        decode_state(raw, 16)
