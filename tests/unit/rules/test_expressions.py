"""The CEL interface: typed variables derived from our schemas, one program for many rules."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import msgspec
import numpy as np
import pytest

from core.errors import ConfigError
from core.models import Transaction
from rules.expressions import EvalError, RuleEnvironment
from rules.messages import FieldKind, transaction_fields

MakeTxn = Callable[..., Transaction]

EXPRESSIONS = [
    "txn.amount > 100.0",
    "features.txn_count_by_account_1h >= 3.0",
    "has(features.amount_mean_by_account_30d)"
    " && txn.amount > 3.0 * features.amount_mean_by_account_30d",
    "features.amount_mean_by_account_30d > 10.0",  # errors when the feature is missing
    "txn.country in ['FR', 'DE'] && txn.channel == 'ecommerce'",
]


def test_every_transaction_field_is_declared() -> None:
    """The `txn` message has exactly the Transaction fields, in order."""
    names = [name for name, _ in transaction_fields()]
    assert names == list(Transaction.__struct_fields__)
    kinds = dict(transaction_fields())
    assert kinds["amount"] is FieldKind.DOUBLE
    assert kinds["device_id"] is FieldKind.OPTIONAL_STRING
    assert kinds["timestamp"] is FieldKind.TIMESTAMP
    assert kinds["attributes"] is FieldKind.STRUCT
    assert kinds["channel"] is FieldKind.STRING


@pytest.mark.parametrize("bad", ["in", "1h_count", "amount-sum", "true"])
def test_unusable_feature_names_are_rejected(bad: str) -> None:
    """Feature names must be identifiers CEL can read as fields."""
    with pytest.raises(ConfigError) as caught:
        RuleEnvironment(["txn_count_by_account_1h", bad])
    assert bad in str(caught.value)


def test_duplicate_feature_names_are_rejected() -> None:
    """Each feature is declared once."""
    with pytest.raises(ConfigError, match="declared twice"):
        RuleEnvironment(["a", "a"])


def test_check_reports_position_within_the_expression(feature_names: tuple[str, ...]) -> None:
    """Issues carry the 1-based line and column inside the expression."""
    environment = RuleEnvironment(feature_names)
    assert environment.check("txn.amount > 1.0") == []
    (issue,) = environment.check("txn.amount > 1.0 &&\n  features.nope > 1.0")
    assert (issue.line, issue.column) == (2, 11)
    assert "nope" in issue.message


def test_check_reports_every_syntax_error() -> None:
    """Several errors in one expression are all returned."""
    issues = RuleEnvironment([]).check("txn.amount > > 1.0 && (")
    assert len(issues) >= 2
    assert all(issue.line == 1 for issue in issues)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_combined_program_agrees_with_one_call_per_rule(
    feature_names: tuple[str, ...], make_txn: MakeTxn, seed: int
) -> None:
    """The single combined program gives the same verdicts as evaluating rule by rule."""
    environment = RuleEnvironment(feature_names)
    combined = environment.program(EXPRESSIONS)
    separate = environment.program(EXPRESSIONS, combined=False)
    rng = np.random.default_rng(seed)
    saw_error = saw_clean = False
    for _ in range(50):
        txn = make_txn(
            amount=Decimal(str(round(float(rng.uniform(1, 500)), 2))),
            country=str(rng.choice(["FR", "DE", "US"])),
        )
        features = {name: float(rng.integers(0, 6)) for name in feature_names}
        if rng.random() < 0.5:
            features["amount_mean_by_account_30d"] = None  # type: ignore[assignment]
        verdicts = combined.evaluate(txn, features)
        assert verdicts == separate.evaluate(txn, features)
        has_error = any(isinstance(v, EvalError) for v in verdicts)
        saw_error, saw_clean = saw_error or has_error, saw_clean or not has_error
    assert saw_error
    assert saw_clean


def test_program_rejects_unchecked_expressions(feature_names: tuple[str, ...]) -> None:
    """program() is for checked expressions only."""
    with pytest.raises(ValueError, match="does not compile"):
        RuleEnvironment(feature_names).program(["txn.amount >"])


def test_messages_round_trip_a_transaction(
    feature_names: tuple[str, ...], make_txn: MakeTxn
) -> None:
    """The `txn` message holds the transaction's values (amount as a double)."""
    messages = RuleEnvironment(feature_names).messages
    txn = make_txn(device_id="dev-1", attributes={"tier": "gold"})
    message = messages.transaction(txn)
    assert message.amount == float(txn.amount)
    assert message.device_id.value == "dev-1"
    assert not message.HasField("ip_address")
    assert message.timestamp.seconds == int(txn.timestamp.timestamp())
    assert dict(message.attributes) == {"tier": "gold"}
    assert msgspec.structs.asdict(txn)["channel"] == message.channel
