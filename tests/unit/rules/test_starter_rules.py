"""The shipped rule set (config/rules) compiles against the shipped features and catches the
generated fraud scenarios, without errors on normal or device-less traffic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from config.settings import CONFIG_DIR
from core.models import Channel, RuleOutcome, Transaction
from features.spec import default_feature_set
from rules.loader import load_rule_set
from rules.ruleset import RuleSet

MakeTxn = Callable[..., Transaction]

STARTER_DIR = CONFIG_DIR / "rules"

NORMAL: dict[str, float | None] = {
    "txn_count_by_account_1m": 1.0,
    "txn_count_by_account_1h": 1.0,
    "txn_count_by_account_24h": 3.0,
    "txn_count_by_account_7d": 12.0,
    "txn_count_by_account_30d": 40.0,
    "amount_sum_by_account_1m": 25.0,
    "amount_sum_by_account_1h": 25.0,
    "amount_sum_by_account_24h": 80.0,
    "amount_sum_by_account_7d": 400.0,
    "amount_sum_by_account_30d": 1500.0,
    "amount_mean_by_account_1m": 25.0,
    "amount_mean_by_account_1h": 25.0,
    "amount_mean_by_account_24h": 26.7,
    "amount_mean_by_account_7d": 33.3,
    "amount_mean_by_account_30d": 37.5,
    "amount_max_by_account_24h": 40.0,
    "amount_max_by_account_30d": 120.0,
    "txn_count_by_account_24h_lag24h": 2.0,
    "amount_sum_by_account_24h_lag24h": 60.0,
    "txn_seconds_since_last_by_account_30d": 3600.0,
    "amount_zscore_by_account_30d": -0.3,
    "merchant_distinct_by_account_24h": 2.0,
    "country_distinct_by_account_24h": 1.0,
    "device_distinct_by_account_24h": 1.0,
    "device_first_seen_by_account_30d": 0.0,
    "country_first_seen_by_account_30d": 0.0,
    "merchant_first_seen_by_account_30d": 0.0,
    "txn_count_by_device_1h": 1.0,
    "txn_count_by_device_24h": 3.0,
    "account_distinct_by_device_24h": 1.0,
    "txn_count_by_ip_1h": 1.0,
    "account_distinct_by_ip_24h": 1.0,
    "txn_count_by_merchant_1h": 20.0,
    "txn_count_by_merchant_24h": 300.0,
    "fraud_count_by_merchant_1d_delay1d": 0.0,
    "fraud_count_by_merchant_7d_delay1d": 0.0,
    "fraud_count_by_merchant_30d_delay1d": 0.0,
    "fraud_count_by_account_30d_delay1d": 0.0,
    "fraud_count_by_device_30d_delay1d": 0.0,
    "fraud_count_by_ip_30d_delay1d": 0.0,
    "hour_of_day": 14.0,
    "day_of_week": 2.0,
    "is_weekend": 0.0,
    "is_night": 0.0,
    "amount": 25.0,
}
"""An ordinary payment of 25 by an established account on its usual device."""

MAYBE_MISSING = (
    "txn_seconds_since_last_by_account_30d",
    "amount_zscore_by_account_30d",
    "device_first_seen_by_account_30d",
    "txn_count_by_device_1h",
    "txn_count_by_device_24h",
    "account_distinct_by_device_24h",
    "txn_count_by_ip_1h",
    "account_distinct_by_ip_24h",
    "fraud_count_by_device_30d_delay1d",
    "fraud_count_by_ip_30d_delay1d",
)
"""Features that are missing for a first transaction or one without device_id / ip_address."""


@dataclass(frozen=True)
class Scenario:
    """A fraud pattern: how its transaction and features differ from NORMAL, what should hit."""

    name: str
    txn_fields: dict[str, object]
    features: dict[str, float | None]
    expected: set[str]


@pytest.fixture(scope="module")
def starter() -> RuleSet:
    """The shipped rules compiled against the shipped feature spec, with the shipped FX table."""
    feature_set = default_feature_set()
    return load_rule_set(STARTER_DIR, feature_set.names, feature_set.fx)


def _hits(rule_set: RuleSet, txn: Transaction, features: dict[str, float | None]) -> set[str]:
    results = rule_set.evaluate(txn, features)
    errors = [result for result in results if result.outcome is RuleOutcome.ERROR]
    assert errors == []
    return {result.rule_id for result in results if result.outcome is RuleOutcome.HIT}


def test_starter_rules_compile_against_the_feature_spec(starter: RuleSet) -> None:
    """Every shipped rule loads; the fixture list above matches the spec's names."""
    assert len(starter.rules) >= 20
    assert set(NORMAL) == set(default_feature_set().names)
    assert set(MAYBE_MISSING) <= set(NORMAL)


def test_starter_rules_cover_every_scenario(starter: RuleSet) -> None:
    """Each generated scenario has rules tagged for it."""
    tags = {tag for rule in starter.rules for tag in rule.tags}
    assert {
        "card-testing",
        "account-takeover",
        "velocity",
        "merchant-risk",
        "mule",
        "compromised-merchant",
    } <= tags


def test_normal_payment_hits_nothing(starter: RuleSet, make_txn: MakeTxn) -> None:
    """An ordinary payment triggers no rule and no error."""
    assert _hits(starter, make_txn(device_id="dev-1"), NORMAL) == set()


def test_missing_features_never_error(starter: RuleSet, make_txn: MakeTxn) -> None:
    """A first transaction without device or IP (those features missing) errors in no rule."""
    features = NORMAL | dict.fromkeys(MAYBE_MISSING)
    assert _hits(starter, make_txn(), features) == set()


@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(
            "card testing",
            {"amount": Decimal("1.00")},
            {"txn_count_by_account_1m": 7.0, "txn_seconds_since_last_by_account_30d": 4.0},
            {"card-testing-burst", "card-testing-rapid-small"},
        ),
        Scenario(
            "account takeover",
            {"amount": Decimal("900.00"), "device_id": "new-device"},
            {"device_first_seen_by_account_30d": 1.0, "country_first_seen_by_account_30d": 1.0},
            {"ato-new-device-new-country", "ato-new-device-amount-spike"},
        ),
        Scenario(
            "velocity spike",
            {},
            {"txn_count_by_account_1h": 12.0},
            {"velocity-hourly-burst"},
        ),
        Scenario(
            "risky merchant category",
            {"amount": Decimal("400.00"), "merchant_category": "7995"},
            {"merchant_first_seen_by_account_30d": 1.0},
            {"risky-mcc-first-time"},
        ),
        Scenario(
            "mule device",
            {"device_id": "shared", "channel": Channel.TRANSFER, "amount": Decimal("800.00")},
            {"account_distinct_by_device_24h": 5.0},
            {"mule-device-many-accounts", "mule-device-transfer-out"},
        ),
        Scenario(
            "compromised merchant",
            {},
            {"txn_count_by_merchant_1h": 80.0, "txn_count_by_merchant_24h": 120.0},
            {"compromised-merchant-surge"},
        ),
    ],
    ids=lambda scenario: scenario.name,
)
def test_scenario_triggers_its_rules(
    starter: RuleSet, make_txn: MakeTxn, scenario: Scenario
) -> None:
    """A typical transaction of each scenario hits that scenario's rules (and no errors)."""
    hits = _hits(starter, make_txn(**scenario.txn_fields), NORMAL | scenario.features)
    assert scenario.expected <= hits, scenario.name
