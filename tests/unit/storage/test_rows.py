"""Mapping decision records to table rows."""

from __future__ import annotations

from collections.abc import Callable

from core.models import Outcome, Reason, ReasonKind
from core.records import DecisionRecord
from storage.rows import alert_row, decision_row, transaction_row, unique_by_transaction

MakeRecord = Callable[..., DecisionRecord]


def test_allow_decisions_raise_no_alert(make_record: MakeRecord) -> None:
    """An allowed transaction is not an alert."""
    assert alert_row(make_record(1, Outcome.ALLOW)) is None


def test_review_and_block_decisions_are_alerts(make_record: MakeRecord) -> None:
    """Review and block decisions become open alerts with their score and account."""
    for outcome in (Outcome.REVIEW, Outcome.BLOCK):
        row = alert_row(make_record(4, outcome))
        assert row is not None
        assert row["outcome"] == outcome.value
        assert row["status"] == "open"
        assert row["account_id"] == "acct1"
        assert row["risk_score"] == make_record(4, outcome).decision.risk_score


def test_alert_shows_the_first_ranked_reason(make_record: MakeRecord) -> None:
    """The top reason is the first of the decision's ranked reasons."""
    reasons = [
        Reason(kind=ReasonKind.MODEL, code="xgb", message="model says fraud", weight=0.4),
        Reason(kind=ReasonKind.RULE, code="r1", message="rule r1", weight=0.9),
    ]
    row = alert_row(make_record(1, Outcome.REVIEW, reasons=reasons))
    assert row is not None
    assert row["top_reason"] == "model says fraud"


def test_alert_lists_only_rules_that_hit(make_record: MakeRecord) -> None:
    """``rule_hits`` holds the ids of hit rules, not those that did not hit."""
    row = alert_row(make_record(1, Outcome.BLOCK))
    assert row is not None
    assert row["rule_hits"] == ["r_block"]


def test_alert_time_is_the_decision_time(make_record: MakeRecord) -> None:
    """Alerts are dated by the decision, so replays give the same rows."""
    record = make_record(1, Outcome.REVIEW)
    row = alert_row(record)
    assert row is not None
    assert row["created_at"] == record.decision.decided_at


def test_transaction_row_keeps_arrival_time_and_channel_value(make_record: MakeRecord) -> None:
    """The transaction row stores the arrival time and plain enum values."""
    record = make_record(1)
    row = transaction_row(record)
    assert row["received_at"] == record.received_at
    assert row["channel"] == "ecommerce"


def test_decision_row_stores_nested_values_as_plain_json(make_record: MakeRecord) -> None:
    """Rule results and model scores become lists of plain dicts."""
    row = decision_row(make_record(1, Outcome.BLOCK).decision)
    assert row["rule_results"][0] == {
        "rule_id": "r_block",
        "outcome": "hit",
        "action": "block",
        "score": 0.0,
        "error": None,
    }
    assert row["model_scores"] == [{"name": "xgboost", "score": 0.5, "contributions": []}]


def test_duplicates_keep_the_first_occurrence(make_record: MakeRecord) -> None:
    """Within a batch the first record of a transaction id wins."""
    first = make_record(1, Outcome.ALLOW)
    again = make_record(1, Outcome.BLOCK)
    other = make_record(2)
    assert unique_by_transaction([first, other, again]) == [first, other]
