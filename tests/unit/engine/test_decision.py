"""decide() combines rule results and model scores into one explainable decision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.models import (
    Contribution,
    ModelScore,
    Outcome,
    ReasonKind,
    RuleOutcome,
    RuleResult,
)
from engine.contracts import EnsembleRow, StageFailure, Thresholds
from engine.decision import decide, risk_score, threshold_outcome

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
THRESHOLDS = Thresholds(review=0.5, block=0.9)


def _rule(
    rule_id: str,
    action: Outcome = Outcome.ALLOW,
    score: float = 0.0,
    outcome: RuleOutcome = RuleOutcome.HIT,
) -> RuleResult:
    error = "boom" if outcome is RuleOutcome.ERROR else None
    return RuleResult(rule_id=rule_id, outcome=outcome, action=action, score=score, error=error)


def _ensemble(risk: float, contributions: list[Contribution] | None = None) -> EnsembleRow:
    return EnsembleRow(
        risk=risk,
        model_scores=[ModelScore(name="ensemble", score=risk)],
        contributions=contributions or [],
    )


def _decide(**overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "transaction_id": "t-1",
        "rule_results": [],
        "ensemble": _ensemble(0.1),
        "thresholds": THRESHOLDS,
        "ruleset_version": "rs-1",
        "model_version": "m-1",
        "decided_at": AT,
    }
    arguments.update(overrides)
    return decide(**arguments)


def test_low_risk_without_hits_is_allowed() -> None:
    """No rule hits and a model score under the review threshold → allow."""
    decision = _decide()
    assert decision.outcome is Outcome.ALLOW
    assert decision.risk_score == pytest.approx(0.1)
    assert decision.degraded is False
    assert decision.reasons == []


def test_most_severe_forced_rule_action_wins() -> None:
    """A block rule and a review rule both hitting give block, whatever the model says."""
    decision = _decide(
        rule_results=[_rule("r-review", Outcome.REVIEW), _rule("r-block", Outcome.BLOCK)],
        ensemble=_ensemble(0.0),
    )
    assert decision.outcome is Outcome.BLOCK


def test_forced_review_is_raised_to_block_by_threshold() -> None:
    """A forced review does not cap the outcome: a risk above the block threshold blocks."""
    decision = _decide(rule_results=[_rule("r", Outcome.REVIEW)], ensemble=_ensemble(0.95))
    assert decision.outcome is Outcome.BLOCK


def test_allow_rule_only_contributes_its_score() -> None:
    """A hit with action allow forces nothing but its score can push risk over a threshold."""
    quiet = _decide(rule_results=[_rule("r", Outcome.ALLOW, 0.0)], ensemble=_ensemble(0.3))
    pushed = _decide(rule_results=[_rule("r", Outcome.ALLOW, 0.25)], ensemble=_ensemble(0.3))
    assert quiet.outcome is Outcome.ALLOW
    assert pushed.outcome is Outcome.REVIEW
    assert pushed.risk_score == pytest.approx(0.55)


def test_rules_that_do_not_hit_change_nothing() -> None:
    """A no_hit block rule neither forces an outcome nor adds its score."""
    decision = _decide(
        rule_results=[_rule("r", Outcome.BLOCK, 0.8, RuleOutcome.NO_HIT)], ensemble=_ensemble(0.1)
    )
    assert decision.outcome is Outcome.ALLOW
    assert decision.risk_score == pytest.approx(0.1)


def test_rule_errors_are_recorded_and_never_decide() -> None:
    """A failing block rule stays in rule_results as error and neither blocks nor explains."""
    failing = _rule("broken", Outcome.BLOCK, 0.9, RuleOutcome.ERROR)
    decision = _decide(rule_results=[failing])
    assert decision.outcome is Outcome.ALLOW
    assert decision.rule_results == [failing]
    assert decision.reasons == []


@pytest.mark.parametrize(
    ("risk", "expected"),
    [
        (0.0, Outcome.ALLOW),
        (0.4999, Outcome.ALLOW),
        (0.5, Outcome.REVIEW),
        (0.8999, Outcome.REVIEW),
        (0.9, Outcome.BLOCK),
        (1.0, Outcome.BLOCK),
    ],
)
def test_thresholds_are_inclusive_lower_bounds(risk: float, expected: Outcome) -> None:
    """risk >= review is review and risk >= block is block."""
    assert threshold_outcome(risk, THRESHOLDS) is expected


def test_risk_is_clipped_to_the_unit_interval() -> None:
    """Rule scores add to the model score, and the sum is clipped into [0, 1]."""
    assert risk_score([_rule("a", score=0.7), _rule("b", score=0.7)], _ensemble(0.5)) == 1.0
    assert risk_score([_rule("a", score=-0.9)], _ensemble(0.2)) == 0.0
    assert risk_score([_rule("a", score=0.3)], None) == pytest.approx(0.3)


def test_reasons_rank_forcing_rules_then_weights() -> None:
    """Block hits come before review hits, then allow hits and model contributions by weight."""
    decision = _decide(
        rule_results=[
            _rule("review-high", Outcome.REVIEW, 0.4),
            _rule("block-low", Outcome.BLOCK, 0.1),
            _rule("allow-mid", Outcome.ALLOW, 0.2),
            _rule("missed", Outcome.BLOCK, 0.9, RuleOutcome.NO_HIT),
        ],
        ensemble=_ensemble(
            0.3,
            [
                Contribution(feature="amount_sum_by_account_1h", value=900.0, contribution=0.35),
                Contribution(feature="txn_count_by_device_24h", value=2.0, contribution=-0.5),
            ],
        ),
    )
    assert [r.code for r in decision.reasons] == [
        "block-low",
        "review-high",
        "feature:amount_sum_by_account_1h",
        "allow-mid",
    ]
    assert decision.reasons[2].kind is ReasonKind.MODEL


def test_reasons_are_capped_but_failures_are_kept() -> None:
    """At most max_reasons explanations are kept; stage failures always lead the list."""
    hits = [_rule(f"r{i}", Outcome.ALLOW, 0.01 * i) for i in range(10)]
    decision = _decide(
        rule_results=hits,
        ensemble=None,
        failures=[StageFailure(stage="ensemble", message="ensemble timed out")],
        max_reasons=3,
    )
    assert [r.code for r in decision.reasons] == ["ensemble_unavailable", "r9", "r8", "r7"]
    assert decision.reasons[0].kind is ReasonKind.DEGRADED


def test_missing_model_marks_the_decision_degraded() -> None:
    """Without the ensemble, rules still decide, the model scores are empty and degraded is set."""
    decision = _decide(rule_results=[_rule("r", Outcome.REVIEW)], ensemble=None)
    assert decision.outcome is Outcome.REVIEW
    assert decision.degraded is True
    assert decision.model_scores == []


def test_missing_rules_marks_the_decision_degraded() -> None:
    """Without rule results, the model score alone decides and degraded is set."""
    decision = _decide(rule_results=None, ensemble=_ensemble(0.92))
    assert decision.outcome is Outcome.BLOCK
    assert decision.degraded is True
    assert decision.rule_results == []


def test_versions_latency_and_features_are_recorded() -> None:
    """The decision carries both versions, the per-stage latency and the feature values."""
    decision = _decide(
        latency_ms={"features": 1.23456, "rules": 0.5},
        features={"amount_sum_by_account_1h": 10.0, "txn_count_by_device_24h": None},
    )
    assert (decision.ruleset_version, decision.model_version) == ("rs-1", "m-1")
    assert decision.latency_ms == {"features": 1.235, "rules": 0.5}
    assert decision.features["txn_count_by_device_24h"] is None


def test_naive_decision_time_is_rejected() -> None:
    """decided_at must be timezone-aware."""
    with pytest.raises(ValueError, match="timezone-aware"):
        _decide(decided_at=datetime(2026, 1, 1))  # noqa: DTZ001 - the naive value is the point


def test_thresholds_must_be_ordered() -> None:
    """Thresholds outside [0, 1] or with review above block are rejected."""
    with pytest.raises(ValueError, match="review <= block"):
        Thresholds(review=0.9, block=0.5)
