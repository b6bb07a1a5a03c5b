"""Rules read `txn.amount_base`, the amount in the FX table's base currency."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from config.fx import FxTable
from core.models import RuleOutcome, Transaction
from rules.loader import load_rule_set

FX = FxTable("USD", {"JPY": Decimal("0.006666666667"), "INR": Decimal("0.01204819277")})
RULES = """
rules:
  - id: over-10000-base
    description: Over 10,000 in the base currency.
    when: txn.amount_base > 10000.0
    action: review
    score: 0.5
  - id: over-10000-own
    description: Over 10,000 in the transaction's own currency.
    when: txn.amount > 10000.0
    action: review
    score: 0.5
"""


def _outcomes(
    write_rules: Callable[..., Path], txn: Transaction, fx: FxTable | None
) -> dict[str, RuleOutcome]:
    rule_set = load_rule_set(write_rules(main=RULES), (), fx)
    return {result.rule_id: result.outcome for result in rule_set.evaluate(txn, {})}


def test_a_large_yen_amount_is_small_in_the_base_currency(
    write_rules: Callable[..., Path], make_txn: Callable[..., Transaction]
) -> None:
    """99,144 JPY (660.96 USD) does not trip an over-10,000 base threshold; its raw amount does."""
    txn = make_txn(amount=Decimal("99144"), currency="JPY")
    assert _outcomes(write_rules, txn, FX) == {
        "over-10000-base": RuleOutcome.NO_HIT,
        "over-10000-own": RuleOutcome.HIT,
    }


def test_amount_base_equals_the_amount_feature(
    write_rules: Callable[..., Path], make_txn: Callable[..., Transaction]
) -> None:
    """amount_base is the converted amount on the features' 1e-4 grid, and hits above the line."""
    rule_set = load_rule_set(write_rules(main=RULES), (), FX)
    txn = make_txn(amount=Decimal("1000000"), currency="INR")
    assert rule_set.amount_base(txn) == 12048.1928  # 12,048.19277 rounded half up to 1e-4
    assert _outcomes(write_rules, txn, FX)["over-10000-base"] is RuleOutcome.HIT


def test_without_a_rate_amount_base_is_null_and_the_rule_errs(
    write_rules: Callable[..., Path], make_txn: Callable[..., Transaction]
) -> None:
    """A currency the table cannot convert (or no table) leaves amount_base null: the rule that
    compares it is an error, the others still evaluate."""
    txn = make_txn(amount=Decimal("20000"), currency="CHF")
    for fx in (FX, None):
        assert _outcomes(write_rules, txn, fx) == {
            "over-10000-base": RuleOutcome.ERROR,
            "over-10000-own": RuleOutcome.HIT,
        }
