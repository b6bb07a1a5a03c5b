"""Evaluating a rule set: hit / no_hit / error per enabled rule, never a failed decision."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from core.models import FeatureVector, Outcome, RuleOutcome, RuleResult, Transaction
from rules.loader import load_rule_set
from rules.ruleset import RuleSet

WriteRules = Callable[..., Path]
MakeTxn = Callable[..., Transaction]
RuleItem = Callable[..., str]


def _load(
    write_rules: WriteRules, rule_item: RuleItem, names: tuple[str, ...], *rules: tuple[str, str]
) -> RuleSet:
    text = "rules:\n" + "".join(rule_item(rule_id, when) for rule_id, when in rules)
    return load_rule_set(write_rules(main=text), names)


def _outcomes(results: list[RuleResult]) -> dict[str, RuleOutcome]:
    return {result.rule_id: result.outcome for result in results}


@pytest.fixture
def features() -> dict[str, float | None]:
    """Plausible feature values for one transaction."""
    return {
        "txn_count_by_account_1m": 6.0,
        "txn_count_by_account_1h": 6.0,
        "txn_count_by_account_24h": 9.0,
        "amount_sum_by_account_1h": 30.0,
        "amount_sum_by_account_24h": 120.0,
        "amount_mean_by_account_30d": 40.0,
        "merchant_distinct_by_account_24h": None,
    }


def test_hit_and_no_hit_carry_action_and_score(
    write_rules: WriteRules,
    rule_item: RuleItem,
    feature_names: tuple[str, ...],
    make_txn: MakeTxn,
    features: dict[str, float | None],
) -> None:
    """A hit carries the rule's action and score; a no_hit carries score 0."""
    directory = write_rules(
        main="rules:\n"
        + rule_item("burst", "features.txn_count_by_account_1m >= 5.0", action="block", score=0.9)
        + rule_item("big", "txn.amount > 1000.0", score=0.4)
    )
    rule_set = load_rule_set(directory, feature_names)
    hit, miss = rule_set.evaluate(make_txn(), features)
    assert hit == RuleResult(
        rule_id="burst", outcome=RuleOutcome.HIT, action=Outcome.BLOCK, score=0.9
    )
    assert miss == RuleResult(
        rule_id="big", outcome=RuleOutcome.NO_HIT, action=Outcome.REVIEW, score=0.0
    )


def test_runtime_error_marks_only_that_rule(
    write_rules: WriteRules,
    rule_item: RuleItem,
    feature_names: tuple[str, ...],
    make_txn: MakeTxn,
    features: dict[str, float | None],
) -> None:
    """A rule failing at run time is `error` with CEL's message; the others still evaluate."""
    rule_set = _load(
        write_rules,
        rule_item,
        feature_names,
        ("before", "txn.amount > 1.0"),
        ("broken", "txn.attributes.segment == 'vip'"),
        ("after", "txn.amount > 1000.0"),
    )
    results = rule_set.evaluate(make_txn(), features)
    assert _outcomes(results) == {
        "before": RuleOutcome.HIT,
        "broken": RuleOutcome.ERROR,
        "after": RuleOutcome.NO_HIT,
    }
    assert results[1].error is not None
    assert "segment" in results[1].error
    assert results[1].score == 0.0


def test_missing_feature_is_absent_not_zero(
    write_rules: WriteRules,
    rule_item: RuleItem,
    feature_names: tuple[str, ...],
    make_txn: MakeTxn,
    features: dict[str, float | None],
) -> None:
    """None is absent: has() is false, and an unguarded comparison is an error, not a 0."""
    rule_set = _load(
        write_rules,
        rule_item,
        feature_names,
        ("guarded", "has(features.merchant_distinct_by_account_24h)"),
        ("unguarded", "features.merchant_distinct_by_account_24h < 1.0"),
        ("present", "has(features.amount_mean_by_account_30d)"),
    )
    assert _outcomes(rule_set.evaluate(make_txn(), features)) == {
        "guarded": RuleOutcome.NO_HIT,
        "unguarded": RuleOutcome.ERROR,
        "present": RuleOutcome.HIT,
    }


def test_nan_and_unlisted_features_are_absent(
    write_rules: WriteRules,
    rule_item: RuleItem,
    feature_names: tuple[str, ...],
    make_txn: MakeTxn,
) -> None:
    """NaN means missing, like None; a feature left out of the mapping is missing too."""
    rule_set = _load(
        write_rules,
        rule_item,
        feature_names,
        ("nan", "has(features.amount_mean_by_account_30d)"),
        ("left-out", "has(features.txn_count_by_account_1h)"),
    )
    results = rule_set.evaluate(make_txn(), {"amount_mean_by_account_30d": math.nan})
    assert _outcomes(results) == {"nan": RuleOutcome.NO_HIT, "left-out": RuleOutcome.NO_HIT}


def test_feature_vector_is_accepted(
    write_rules: WriteRules,
    rule_item: RuleItem,
    feature_names: tuple[str, ...],
    make_txn: MakeTxn,
    features: dict[str, float | None],
) -> None:
    """evaluate takes a FeatureVector as well as a plain mapping."""
    rule_set = _load(
        write_rules, rule_item, feature_names, ("burst", "features.txn_count_by_account_1m > 5.0")
    )
    vector = FeatureVector(values=features, spec_version="test")
    assert rule_set.evaluate(make_txn(), vector) == rule_set.evaluate(make_txn(), features)
    assert rule_set.evaluate(make_txn(), vector)[0].outcome is RuleOutcome.HIT


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("txn.amount == 25.0", True),
        ("txn.currency == 'EUR' && txn.country in ['FR', 'DE']", True),
        ("txn.channel == 'ecommerce'", True),
        ("txn.merchant_category.startsWith('54')", True),
        ("txn.timestamp.getHours() == 3", True),
        ("txn.timestamp.getHours('Asia/Tokyo') == 12", True),
        ("txn.device_id == null && !has(txn.device_id)", True),
        ("has(txn.ip_address)", True),
        ("txn.ip_address.startsWith('10.')", True),
        ("txn.attributes.tier == 'gold'", True),
        ("'vip' in txn.attributes", False),
        ("txn.attributes.retries > 2", True),
        ("txn.attributes.first_purchase == true", True),
    ],
)
def test_transaction_fields_are_typed_variables(
    write_rules: WriteRules, rule_item: RuleItem, make_txn: MakeTxn, when: str, expected: bool
) -> None:
    """Every Transaction field reads as documented in rules/__init__.py."""
    rule_set = _load(write_rules, rule_item, (), ("probe", f'"{when}"'))
    txn = make_txn(
        ip_address="10.1.2.3",
        attributes={"tier": "gold", "retries": 3, "first_purchase": True},
    )
    (result,) = rule_set.evaluate(txn, {})
    assert result.outcome is (RuleOutcome.HIT if expected else RuleOutcome.NO_HIT), result.error


def test_disabled_rules_are_not_evaluated(
    write_rules: WriteRules, feature_names: tuple[str, ...], make_txn: MakeTxn, rule_item: RuleItem
) -> None:
    """Only enabled rules produce results."""
    directory = write_rules(
        main="rules:\n"
        + rule_item("on", "txn.amount > 1.0")
        + rule_item("off", "txn.amount > 1.0", extra="    enabled: false\n")
    )
    rule_set = load_rule_set(directory, feature_names)
    assert [result.rule_id for result in rule_set.evaluate(make_txn(), {})] == ["on"]


def test_empty_rule_list_evaluates_to_no_results(
    write_rules: WriteRules, feature_names: tuple[str, ...], make_txn: MakeTxn
) -> None:
    """A file may hold no rules (yet)."""
    rule_set = load_rule_set(write_rules(main="rules: []\n"), feature_names)
    assert rule_set.evaluate(make_txn(), {}) == []


def test_trailing_comment_does_not_hide_later_rules(
    write_rules: WriteRules, feature_names: tuple[str, ...], make_txn: MakeTxn
) -> None:
    """A `//` comment at the end of one expression does not swallow the next rule."""
    text = """\
    rules:
      - id: commented
        description: Ends with a comment.
        when: |
          txn.amount > 1.0 // any amount
        action: review
        score: 0.1
      - id: next
        description: Follows it.
        when: txn.amount > 1000.0
        action: block
        score: 0.9
    """
    rule_set = load_rule_set(write_rules(main=text), feature_names)
    assert _outcomes(rule_set.evaluate(make_txn(), {})) == {
        "commented": RuleOutcome.HIT,
        "next": RuleOutcome.NO_HIT,
    }


def test_evaluate_many_matches_evaluate(
    write_rules: WriteRules,
    rule_item: RuleItem,
    feature_names: tuple[str, ...],
    make_txn: MakeTxn,
    features: dict[str, float | None],
) -> None:
    """A batch gives the same results as one call per row, in order."""
    rule_set = _load(
        write_rules,
        rule_item,
        feature_names,
        ("big", "txn.amount > 100.0"),
        ("broken", "features.merchant_distinct_by_account_24h > 1.0"),
    )
    rows = [(make_txn(amount=Decimal(amount)), features) for amount in ("5", "500", "50")]
    assert rule_set.evaluate_many(rows) == [rule_set.evaluate(t, f) for t, f in rows]
    assert [r[0].outcome for r in rule_set.evaluate_many(rows)] == [
        RuleOutcome.NO_HIT,
        RuleOutcome.HIT,
        RuleOutcome.NO_HIT,
    ]
