"""Degraded modes: what a decision becomes when a stage fails, declared per stage.

A stage *fails* when it raises, answers with the wrong number of rows, or misses its deadline
(``stage_timeouts_s`` / ``stage_timeout_s`` in ``config/serve.yaml``). What happens then is the
stage's :class:`DegradedPolicy`, set under ``degraded`` in the same file:

============  ==============================================================================
policy        the decision when that stage failed
============  ==============================================================================
fail_open     decided from the stages that answered (nothing answered: ``allow``)
review        as ``fail_open``, but at least ``review``
fail_closed   ``block``
reject        no decision: the request gets 503 and may be retried
============  ==============================================================================

Every decision made without a stage is marked ``degraded`` and names the failure as its first
reason. When several stages failed, the most severe of their policies applies (``fail_open`` <
``review`` < ``fail_closed`` < ``reject``). Defaults (:class:`DegradedPolicies`): the features
stage ``reject`` (without the account's history nothing meaningful can be decided, and the
payment system's own fallback applies), rules and ensemble ``fail_open`` (the other one still
decides). A decision is returned only once it is in the decision stream: if Redis itself is
down, the request gets 503 whatever the policy, so no returned decision is ever lost.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import msgspec

from core.models import Outcome
from engine.stages import ENSEMBLE, FEATURES, RULES


class DegradedPolicy(enum.StrEnum):
    """What a failed stage does to the decision."""

    FAIL_OPEN = "fail_open"
    REVIEW = "review"
    FAIL_CLOSED = "fail_closed"
    REJECT = "reject"

    @property
    def severity(self) -> int:
        """Order of precedence when several stages failed (higher wins)."""
        return _SEVERITY[self]

    @property
    def floor(self) -> Outcome:
        """The least severe outcome a decision under this policy may have."""
        return _FLOOR[self]


_SEVERITY = {policy: rank for rank, policy in enumerate(DegradedPolicy)}
_FLOOR = {
    DegradedPolicy.FAIL_OPEN: Outcome.ALLOW,
    DegradedPolicy.REVIEW: Outcome.REVIEW,
    DegradedPolicy.FAIL_CLOSED: Outcome.BLOCK,
    DegradedPolicy.REJECT: Outcome.BLOCK,
}


class DegradedPolicies(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The policy of each stage (``degraded:`` in the Serve application's args)."""

    features: DegradedPolicy = DegradedPolicy.REJECT
    rules: DegradedPolicy = DegradedPolicy.FAIL_OPEN
    ensemble: DegradedPolicy = DegradedPolicy.FAIL_OPEN

    def of(self, stage: str) -> DegradedPolicy:
        """The policy of ``stage`` (``features``, ``rules`` or ``ensemble``)."""
        by_stage = {FEATURES: self.features, RULES: self.rules, ENSEMBLE: self.ensemble}
        return by_stage[stage]

    def combined(self, failed_stages: Iterable[str]) -> DegradedPolicy:
        """The most severe policy among the stages that failed (``fail_open`` if none did)."""
        return max(
            (self.of(stage) for stage in failed_stages),
            key=lambda policy: policy.severity,
            default=DegradedPolicy.FAIL_OPEN,
        )
