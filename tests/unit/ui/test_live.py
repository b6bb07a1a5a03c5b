"""The live table's model: items from records and alerts, filters, bounded rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.alerts import AlertLabel, AlertStatus
from core.errors import InvalidInputError
from core.models import (
    Channel,
    Decision,
    ModelScore,
    Outcome,
    Reason,
    ReasonKind,
    RuleOutcome,
    RuleResult,
    Transaction,
)
from core.records import DecisionRecord
from storage.repository import Alert
from ui.live import MAX_ALERT_ID, AlertItem, LiveFilter, LiveRows, item_from_alert, item_from_record

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(i: int, outcome: Outcome, *, score: float = 0.7) -> DecisionRecord:
    """A decision record for transaction ``t<i>`` at T0 + i minutes."""
    at = T0 + timedelta(minutes=i)
    txn = Transaction(
        transaction_id=f"t{i}",
        account_id="acct1",
        amount=Decimal("12.50"),
        currency="EUR",
        timestamp=at,
        merchant_id="m9",
        merchant_category="5411",
        country="DE",
        channel=Channel.POS,
    )
    hit = outcome is not Outcome.ALLOW
    decision = Decision(
        transaction_id=txn.transaction_id,
        outcome=outcome,
        risk_score=score,
        model_scores=[ModelScore(name="xgboost", score=score)],
        rule_results=[
            RuleResult(
                rule_id="r1", outcome=RuleOutcome.HIT if hit else RuleOutcome.NO_HIT, action=outcome
            ),
            RuleResult(rule_id="r2", outcome=RuleOutcome.NO_HIT, action=Outcome.BLOCK),
        ],
        reasons=[Reason(kind=ReasonKind.RULE, code="r1", message="r1 hit", weight=1.0)]
        if hit
        else [],
        ruleset_version="rs",
        model_version="m",
        decided_at=at,
    )
    return DecisionRecord(transaction=txn, decision=decision, received_at=at)


def item(i: int, outcome: Outcome = Outcome.BLOCK, **changes: object) -> AlertItem:
    """The alert item of ``record(i, outcome)`` with ``changes``."""
    built = item_from_record(record(i, outcome))
    assert built is not None
    return replace(built, **changes)  # type: ignore[arg-type]


def test_item_from_record_carries_what_the_table_shows() -> None:
    """A block becomes an open item with amount, merchant, country, top reason and rule hits."""
    built = item_from_record(record(1, Outcome.BLOCK))
    assert built is not None
    assert (built.transaction_id, built.alert_id, built.outcome) == ("t1", None, Outcome.BLOCK)
    assert (built.amount, built.currency, built.merchant_id, built.country) == (
        Decimal("12.50"),
        "EUR",
        "m9",
        "DE",
    )
    assert (built.top_reason, built.rule_hits, built.status) == (
        "r1 hit",
        ("r1",),
        AlertStatus.OPEN,
    )


def test_allowed_decision_is_no_item() -> None:
    """Allows never reach the alert table."""
    assert item_from_record(record(1, Outcome.ALLOW)) is None


def test_item_from_alert_without_transaction_has_unknown_details() -> None:
    """A stored alert whose transaction is missing shows dashes, not invented values."""
    alert = Alert(
        id=5,
        transaction_id="t5",
        account_id="a",
        outcome=Outcome.REVIEW,
        risk_score=0.6,
        top_reason=None,
        rule_hits=(),
        status=AlertStatus.CLOSED,
        label=AlertLabel.LEGIT,
        note=None,
        labelled_by="x",
        labelled_at=T0,
        created_at=T0,
    )
    built = item_from_alert(alert, None)
    assert (built.alert_id, built.amount, built.merchant_id, built.label) == (
        5,
        None,
        None,
        AlertLabel.LEGIT,
    )


def test_filter_matches_what_its_query_selects() -> None:
    """Each condition of the filter excludes what the repository filter would exclude."""
    now = T0 + timedelta(hours=1)
    block = item(1, risk_score=0.9)
    assert LiveFilter().matches(block, now)
    assert not LiveFilter(outcome=Outcome.REVIEW).matches(block, now)
    assert not LiveFilter(status=AlertStatus.CLOSED).matches(block, now)
    assert not LiveFilter(min_score=0.95).matches(block, now)
    assert not LiveFilter(max_score=0.5).matches(block, now)
    assert LiveFilter(rule_id="r1").matches(block, now)
    assert not LiveFilter(rule_id="r2").matches(block, now)
    assert not LiveFilter(account_id="acct2").matches(block, now)
    assert LiveFilter(within=timedelta(hours=2)).matches(block, now)
    assert not LiveFilter(within=timedelta(minutes=30)).matches(block, now)


def test_filter_translates_to_a_repository_filter() -> None:
    """Defaults become 'any'; the span becomes a since bound."""
    now = T0
    query = LiveFilter(min_score=0.2, rule_id="r1", within=timedelta(hours=1)).alert_filter(now)
    assert (query.min_score, query.max_score, query.rule_id) == (0.2, None, "r1")
    assert query.since == T0 - timedelta(hours=1)
    assert LiveFilter().alert_filter(now).since is None


def test_filter_rejects_crossed_or_out_of_range_scores() -> None:
    """Bounds outside [0, 1] or min above max are named."""
    with pytest.raises(InvalidInputError) as caught:
        LiveFilter(min_score=0.9, max_score=0.2)
    assert [p.location for p in caught.value.problems] == ["max_score"]
    with pytest.raises(InvalidInputError):
        LiveFilter(max_score=1.5)


def test_rows_keep_newest_first_and_drop_the_oldest_beyond_the_limit() -> None:
    """Pushing past the limit keeps the newest rows; pushed rows are remembered as new."""
    rows = LiveRows(limit=3)
    rows.reset([item(1), item(2)])
    added = rows.push([item(3), item(4)])
    assert [i.transaction_id for i in rows.items] == ["t4", "t3", "t2"]
    assert [i.transaction_id for i in added] == ["t3", "t4"]
    assert rows.pushed == {"t3", "t4"}


def test_rows_ignore_alerts_already_shown() -> None:
    """A pushed alert that history already shows is not added twice."""
    rows = LiveRows(limit=5)
    rows.reset([item(1, alert_id=11)])
    assert rows.push([item(1), item(1)]) == []
    assert len(rows.items) == 1


def test_rows_apply_an_investigators_change() -> None:
    """A labelled alert updates its row (status, label, id); unknown alerts are ignored."""
    rows = LiveRows(limit=5)
    rows.reset([item(1)])
    labelled = Alert(
        id=9,
        transaction_id="t1",
        account_id="acct1",
        outcome=Outcome.BLOCK,
        risk_score=0.7,
        top_reason=None,
        rule_hits=("r1",),
        status=AlertStatus.CLOSED,
        label=AlertLabel.FRAUD,
        note=None,
        labelled_by="a",
        labelled_at=T0,
        created_at=T0,
    )
    assert rows.update(labelled)
    assert (rows.items[0].alert_id, rows.items[0].status, rows.items[0].label) == (
        9,
        AlertStatus.CLOSED,
        AlertLabel.FRAUD,
    )
    assert not rows.update(replace(labelled, transaction_id="t99"))


def test_cursor_of_an_unstored_item_keeps_its_instant() -> None:
    """Without an id the cursor uses the largest id, so alerts of the same instant stay."""
    assert item(1).cursor.id == MAX_ALERT_ID
    assert item(1, alert_id=4).cursor.id == 4
