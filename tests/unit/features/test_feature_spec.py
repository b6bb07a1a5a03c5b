"""Feature specs derive their names, validate themselves and describe the default feature set."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import FeatureSpecError
from features.definitions import FeatureSet, FeatureSpec, Measure, Stat, TransactionFeatureKind
from features.durations import amount_units, cents_of_units, event_time_ms, parse_duration
from features.spec import default_feature_set


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        (FeatureSpec(entity="account_id", stat=Stat.COUNT, window="1h"), "txn_count_by_account_1h"),
        (FeatureSpec(entity="device_id", stat=Stat.COUNT, window="24h"), "txn_count_by_device_24h"),
        (FeatureSpec(entity="account_id", stat=Stat.SUM, window="1h"), "amount_sum_by_account_1h"),
        (
            FeatureSpec(entity="account_id", stat=Stat.SUM, window="24h", lag="24h"),
            "amount_sum_by_account_24h_lag24h",
        ),
        (
            FeatureSpec(entity="account_id", stat=Stat.DISTINCT, window="24h", of="merchant_id"),
            "merchant_distinct_by_account_24h",
        ),
        (
            FeatureSpec(entity="device_id", stat=Stat.DISTINCT, window="24h", of="account_id"),
            "account_distinct_by_device_24h",
        ),
        (
            FeatureSpec(entity="account_id", stat=Stat.FIRST_SEEN, window="30d", of="country"),
            "country_first_seen_by_account_30d",
        ),
        (
            FeatureSpec(entity="ip_address", stat=Stat.SECONDS_SINCE_LAST, window="7d"),
            "txn_seconds_since_last_by_ip_7d",
        ),
        (
            FeatureSpec(entity="merchant_category", stat=Stat.MAX, window="30d"),
            "amount_max_by_merchant_category_30d",
        ),
        (
            FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_COUNT, window="7d"),
            "fraud_count_by_merchant_7d",
        ),
        (
            FeatureSpec(
                entity="ip_address", stat=Stat.FRAUD_SHARE, window="7d", lag="7d", label_delay="1d"
            ),
            "fraud_share_by_ip_7d_lag7d_delay1d",
        ),
    ],
)
def test_names_are_derived_from_the_spec(spec: FeatureSpec, name: str) -> None:
    """{subject}_{stat}_by_{entity}_{window}[_lag{lag}][_delay{d}], entity and `of` by short
    name, no subject for the label-aware stats."""
    assert spec.name == name


def test_measure_follows_from_the_stat() -> None:
    """count, distinct, first_seen and seconds_since_last count txns; fraud_count and fraud_share
    count labels; the rest use amounts."""
    assert {stat: stat.measure for stat in Stat} == {
        Stat.COUNT: Measure.TXN,
        Stat.SUM: Measure.AMOUNT,
        Stat.MEAN: Measure.AMOUNT,
        Stat.MAX: Measure.AMOUNT,
        Stat.DISTINCT: Measure.TXN,
        Stat.FIRST_SEEN: Measure.TXN,
        Stat.SECONDS_SINCE_LAST: Measure.TXN,
        Stat.ZSCORE: Measure.AMOUNT,
        Stat.FRAUD_COUNT: Measure.LABEL,
        Stat.FRAUD_SHARE: Measure.LABEL,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"entity": "account"}, "must be a Transaction field name: 'account_id'"),
        ({"entity": "amount"}, "unknown transaction field 'amount'"),
        ({"window": "1w"}, "is not a duration"),
        ({"stat": Stat.DISTINCT}, "needs `of`"),
        ({"of": "merchant_id"}, "does not take `of`"),
        ({"stat": Stat.FIRST_SEEN, "of": "account_id"}, "must differ from the entity"),
        ({"lag": "0s"}, "is not a duration"),
        ({"label_delay": "1d"}, "stat count does not take `label_delay`"),
        ({"stat": Stat.FRAUD_COUNT, "label_delay": "1w"}, "is not a duration"),
        ({"stat": Stat.FRAUD_SHARE, "entity": "country"}, "needs an entity a label names"),
        ({"stat": Stat.FRAUD_COUNT, "of": "merchant_id"}, "does not take `of`"),
    ],
)
def test_spec_rejects_what_cannot_mean_anything(fields: dict[str, object], message: str) -> None:
    """Unknown fields, bad durations, a missing or needless `of`, a needless `label_delay` and a
    label-aware stat on an entity labels do not name raise ValueError."""
    arguments: dict[str, object] = {"entity": "account_id", "stat": Stat.COUNT, "window": "1h"}
    with pytest.raises(ValueError, match=message):
        FeatureSpec(**{**arguments, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "milliseconds"),
    [
        ("1s", 1_000),
        ("1m", 60_000),
        ("1h", 3_600_000),
        ("24h", 86_400_000),
        ("366d", 31_622_400_000),
    ],
)
def test_durations_parse_to_milliseconds(text: str, milliseconds: int) -> None:
    """<count><unit> with units s, m (minutes), h, d."""
    assert parse_duration(text) == milliseconds


@pytest.mark.parametrize("text", ["0h", "01h", "1w", "1.5h", "-1h", "24", "h", "367d", " 1h", "1H"])
def test_bad_durations_are_rejected(text: str) -> None:
    """Zero, leading zeros, other units, fractions, signs, spaces and > 366d are errors."""
    with pytest.raises(ValueError, match=r"not a duration|longer than"):
        parse_duration(text)


def test_event_time_is_floored_to_milliseconds() -> None:
    """Sub-millisecond digits drop towards the past, also before 1970 and in other zones."""
    assert event_time_ms(datetime(1970, 1, 1, 0, 0, 0, 1999, tzinfo=UTC)) == 1
    assert event_time_ms(datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC)) == -1
    plus_one = timezone(timedelta(hours=1))
    assert event_time_ms(datetime(1970, 1, 1, 1, 0, 0, tzinfo=plus_one)) == 0
    with pytest.raises(ValueError, match="no timezone"):
        event_time_ms(datetime(2024, 1, 1))  # noqa: DTZ001 - the naive value is the point


def test_amounts_convert_to_exact_units() -> None:
    """Decimals convert exactly, floats round to the nearest 1e-4, cents round half up."""
    assert amount_units(Decimal("12.3456")) == 123_456
    assert amount_units(0.3) == 3_000
    assert amount_units(999_999_999.9999) == 9_999_999_999_999
    assert (cents_of_units(123_450), cents_of_units(123_449)) == (1_235, 1_234)
    with pytest.raises(ValueError, match="four decimal places"):
        amount_units(Decimal("1.00001"))


def test_default_feature_set_covers_the_required_features() -> None:
    """The shipped spec has velocity, spend, spread, novelty, recency, merchant and known-fraud
    features."""
    names = set(default_feature_set().names)
    required = {
        *(f"txn_count_by_account_{w}" for w in ("1m", "1h", "24h", "7d", "30d")),
        *(f"amount_sum_by_account_{w}" for w in ("1m", "1h", "24h", "7d", "30d")),
        *(f"amount_mean_by_account_{w}" for w in ("1m", "1h", "24h", "7d", "30d")),
        "merchant_distinct_by_account_24h",
        "country_distinct_by_account_24h",
        "device_distinct_by_account_24h",
        "account_distinct_by_device_24h",
        "device_first_seen_by_account_30d",
        "country_first_seen_by_account_30d",
        "merchant_first_seen_by_account_30d",
        "txn_seconds_since_last_by_account_30d",
        "txn_count_by_merchant_24h",
        "amount_zscore_by_account_30d",
        "fraud_count_by_merchant_7d_delay1d",
        "fraud_count_by_account_30d_delay1d",
        "hour_of_day",
        "is_weekend",
        "is_night",
    }
    assert required <= names


def test_default_feature_set_describes_its_state_needs() -> None:
    """max_window, entities and per-entity helpers tell the online store what to keep."""
    feature_set = default_feature_set()
    assert feature_set.max_window == timedelta(days=30)
    assert feature_set.entities == ("account_id", "device_id", "ip_address", "merchant_id")
    assert feature_set.of_fields("account") == ("merchant_id", "country", "device_id")
    assert feature_set.max_window_ms_for("merchant_id") == 30 * 86_400_000
    assert feature_set.history_window_ms_for("merchant_id") == 86_400_000
    assert feature_set.history_window_ms_for("ip") == 86_400_000
    assert feature_set.label_window_ms_for("ip") == 30 * 86_400_000
    assert all(spec.entity == "device_id" for spec in feature_set.specs_for("device"))


def test_version_is_a_stable_content_hash() -> None:
    """Same specs, same version; a changed window or order changes it."""
    count = FeatureSpec(entity="account_id", stat=Stat.COUNT, window="1h")
    total = FeatureSpec(entity="account_id", stat=Stat.SUM, window="1h")
    base = FeatureSet(windowed=(count, total))
    assert base.version == FeatureSet(windowed=(count, total)).version
    assert len(base.version) == 16
    assert base.version != FeatureSet(windowed=(total, count)).version
    longer = FeatureSpec(entity="account_id", stat=Stat.COUNT, window="2h")
    assert base.version != FeatureSet(windowed=(longer, total)).version
    with_hour = FeatureSet(
        windowed=(count, total), per_transaction=(TransactionFeatureKind.AMOUNT,)
    )
    assert base.version != with_hour.version
    assert default_feature_set().version == default_feature_set().version


def test_label_delay_is_part_of_the_meaning() -> None:
    """Specs differing only by label_delay have different names, meanings and versions; 24h and
    1d delays mean the same."""
    plain = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_COUNT, window="7d")
    day = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_COUNT, window="7d", label_delay="1d")
    hours = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_COUNT, window="7d", label_delay="24h")
    assert day.label_delay_ms == 86_400_000
    assert plain.label_delay_ms == 0
    assert FeatureSet(windowed=(plain, day)).names == (
        "fraud_count_by_merchant_7d",
        "fraud_count_by_merchant_7d_delay1d",
    )
    assert FeatureSet(windowed=(plain,)).version != FeatureSet(windowed=(day,)).version
    with pytest.raises(FeatureSpecError, match="computes the same values as"):
        FeatureSet(windowed=(day, hours))


def test_label_aware_specs_describe_what_state_they_need() -> None:
    """fraud_count reads labels only, fraud_share also the transactions; each keeps its span."""
    count = FeatureSpec(entity="ip_address", stat=Stat.FRAUD_COUNT, window="30d")
    share = FeatureSpec(entity="merchant_id", stat=Stat.FRAUD_SHARE, window="7d", lag="1d")
    hourly = FeatureSpec(entity="merchant_id", stat=Stat.COUNT, window="1h")
    feature_set = FeatureSet(windowed=(count, share, hourly))
    assert feature_set.label_aware
    assert not FeatureSet(windowed=(hourly,)).label_aware
    assert (feature_set.history_window_ms_for("ip"), feature_set.label_window_ms_for("ip")) == (
        0,
        30 * 86_400_000,
    )
    assert feature_set.history_window_ms_for("merchant") == 8 * 86_400_000
    assert feature_set.label_window_ms_for("merchant") == 8 * 86_400_000
    assert feature_set.max_window_ms_for("ip") == 30 * 86_400_000


def test_feature_set_rejects_duplicate_names_and_meanings() -> None:
    """Two specs with one name, or one meaning under two names (24h and 1d), are errors."""
    day = FeatureSpec(entity="account_id", stat=Stat.COUNT, window="24h")
    same_day = FeatureSpec(entity="account_id", stat=Stat.COUNT, window="1d")
    with pytest.raises(FeatureSpecError, match="duplicate feature 'txn_count_by_account_24h'"):
        FeatureSet(windowed=(day, day))
    with pytest.raises(FeatureSpecError, match="computes the same values as"):
        FeatureSet(windowed=(day, same_day))


def test_the_documented_default_list_matches_the_spec_file() -> None:
    """docs/features.md lists exactly the default feature names, in order, with the version."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "features.md").read_text("utf-8")
    section = text.split("## 4. The default feature set", 1)[1].split("\n## ", 1)[0]
    documented = tuple(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))
    feature_set = default_feature_set()
    assert documented == feature_set.names
    assert f"version `{feature_set.version}`" in section
