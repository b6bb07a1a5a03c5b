"""The one pure function that turns rule results and model scores into a :class:`Decision`.

How a decision is made (the order matters):

1. **Risk score.** ``risk = clip(ensemble risk + sum of the scores of rules that hit, 0, 1)``.
   A rule's score is added risk (negative scores lower it); a rule that did not hit, or failed,
   adds nothing. When the models were unavailable the ensemble risk counts as 0.
2. **Forced outcome.** Every rule that hit with action ``review`` or ``block`` forces at least
   that outcome; the most severe one wins. A hit with action ``allow`` forces nothing: it only
   contributes its score.
3. **Threshold outcome.** ``risk >= block`` is block, ``risk >= review`` is review, else allow.
4. **Outcome** is the most severe of the forced outcome, the threshold outcome and the
   ``floor`` a degraded-mode policy sets (:mod:`engine.degraded`; ``allow`` when nothing failed).
5. **Reasons**, ranked: every stage failure first (the decision is ``degraded``), then rule hits
   that forced an outcome (block before review, larger score first), then the other rule hits and
   the features that pushed the model towards fraud, by weight (a rule's score, a feature's
   contribution). At most ``max_reasons`` of the
   latter are kept; failures are always kept. Failed rules stay in ``rule_results`` with outcome
   ``error`` and never change the outcome.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from core.models import (
    Decision,
    ModelScore,
    Outcome,
    Reason,
    ReasonKind,
    RuleOutcome,
    RuleResult,
)
from engine.contracts import EnsembleRow, StageFailure, Thresholds

DEFAULT_MAX_REASONS = 5


def decide(
    *,
    transaction_id: str,
    rule_results: Sequence[RuleResult] | None,
    ensemble: EnsembleRow | None,
    thresholds: Thresholds,
    ruleset_version: str,
    model_version: str,
    decided_at: datetime,
    failures: Sequence[StageFailure] = (),
    floor: Outcome = Outcome.ALLOW,
    latency_ms: Mapping[str, float] | None = None,
    features: Mapping[str, float | None] | None = None,
    max_reasons: int = DEFAULT_MAX_REASONS,
) -> Decision:
    """Combine one transaction's rule results and ensemble row into its decision.

    ``rule_results`` / ``ensemble`` are ``None`` when that stage failed; say why in ``failures``.
    ``floor`` is the least severe outcome allowed (a degraded-mode policy, :mod:`engine.degraded`).
    ``decided_at`` must be timezone-aware.
    """
    if decided_at.tzinfo is None:
        raise ValueError("decided_at must be timezone-aware")
    rules = list(rule_results or [])
    hits = [r for r in rules if r.outcome is RuleOutcome.HIT]
    risk = risk_score(hits, ensemble)
    forced = Outcome.most_severe([r.action for r in hits])
    outcome = Outcome.most_severe([forced, threshold_outcome(risk, thresholds), floor])
    degraded = bool(failures) or rule_results is None or ensemble is None
    return Decision(
        transaction_id=transaction_id,
        outcome=outcome,
        risk_score=risk,
        model_scores=_model_scores(ensemble),
        rule_results=rules,
        reasons=rank_reasons(hits, ensemble, failures, max_reasons=max_reasons),
        ruleset_version=ruleset_version,
        model_version=model_version,
        decided_at=decided_at,
        latency_ms={k: round(v, 3) for k, v in (latency_ms or {}).items()},
        degraded=degraded,
        features=dict(features or {}),
    )


def risk_score(hits: Sequence[RuleResult], ensemble: EnsembleRow | None) -> float:
    """Ensemble risk plus the scores of rules that hit, clipped to [0, 1]; NaN counts as 0."""
    total = ensemble.risk if ensemble is not None else 0.0
    total += sum(r.score for r in hits)
    if math.isnan(total):
        return 0.0
    return min(1.0, max(0.0, total))


def threshold_outcome(risk: float, thresholds: Thresholds) -> Outcome:
    """Block at or above ``thresholds.block``, review at or above ``thresholds.review``."""
    if risk >= thresholds.block:
        return Outcome.BLOCK
    if risk >= thresholds.review:
        return Outcome.REVIEW
    return Outcome.ALLOW


def rank_reasons(
    hits: Sequence[RuleResult],
    ensemble: EnsembleRow | None,
    failures: Sequence[StageFailure],
    *,
    max_reasons: int = DEFAULT_MAX_REASONS,
) -> list[Reason]:
    """Failures first, then forcing rule hits by severity and score, then the rest by weight."""
    degraded = [
        Reason(
            kind=ReasonKind.DEGRADED,
            code=f"{failure.stage}_unavailable",
            message=failure.message,
            weight=1.0,
        )
        for failure in failures
    ]
    forcing = sorted(
        (r for r in hits if r.action is not Outcome.ALLOW),
        key=lambda r: (-r.action.severity, -r.score, r.rule_id),
    )
    scored = [_rule_reason(r) for r in hits if r.action is Outcome.ALLOW]
    if ensemble is not None:
        scored.extend(
            Reason(
                kind=ReasonKind.MODEL,
                code=f"feature:{c.feature}",
                message=(
                    f"{c.feature}={_show(c.value)} raised the model score by {c.contribution:.3f}"
                ),
                weight=c.contribution,
            )
            for c in ensemble.contributions
            if c.contribution > 0.0
        )
    scored.sort(key=lambda reason: (-reason.weight, reason.code))
    ranked = [_rule_reason(r) for r in forcing] + scored
    return degraded + ranked[: max(0, max_reasons)]


def _rule_reason(result: RuleResult) -> Reason:
    return Reason(
        kind=ReasonKind.RULE,
        code=result.rule_id,
        message=f"rule {result.rule_id} hit (action {result.action}, score {result.score:+.2f})",
        weight=result.score,
    )


def _model_scores(ensemble: EnsembleRow | None) -> list[ModelScore]:
    return list(ensemble.model_scores) if ensemble is not None else []


def _show(value: float | None) -> str:
    return "missing" if value is None else f"{value:g}"
