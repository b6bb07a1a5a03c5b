"""Pure mapping from a :class:`~core.records.DecisionRecord` to table rows.

One place decides which decision becomes an alert and what an alert shows; the writer and any
backfill use these functions, and they are tested without a database.
"""

from __future__ import annotations

from typing import Any

import msgspec

from core.alerts import AlertStatus
from core.models import Decision, Outcome, RuleOutcome, Transaction
from core.records import DecisionRecord

Row = dict[str, Any]

ALERTING_OUTCOMES = frozenset({Outcome.REVIEW, Outcome.BLOCK})
"""Every decision with one of these outcomes is an alert."""


def transaction_row(record: DecisionRecord) -> Row:
    """The ``transactions`` row of ``record``."""
    txn: Transaction = record.transaction
    return {
        "transaction_id": txn.transaction_id,
        "account_id": txn.account_id,
        "amount": txn.amount,
        "currency": txn.currency,
        "timestamp": txn.timestamp,
        "merchant_id": txn.merchant_id,
        "merchant_category": txn.merchant_category,
        "country": txn.country,
        "channel": txn.channel.value,
        "device_id": txn.device_id,
        "ip_address": txn.ip_address,
        "attributes": dict(txn.attributes),
        "received_at": record.received_at,
    }


def shadow_row(record: DecisionRecord) -> Row | None:
    """The ``shadow_scores`` row of ``record`` (its challenger's score), if it has one."""
    if record.shadow is None:
        return None
    return {
        "transaction_id": record.transaction.transaction_id,
        "model_version": record.shadow.model_version,
        "risk": record.shadow.risk,
        "decided_at": record.decision.decided_at,
    }


def decision_row(decision: Decision) -> Row:
    """The ``decisions`` row of ``decision``."""
    return {
        "transaction_id": decision.transaction_id,
        "outcome": decision.outcome.value,
        "risk_score": decision.risk_score,
        "model_scores": msgspec.to_builtins(decision.model_scores),
        "rule_results": msgspec.to_builtins(decision.rule_results),
        "reasons": msgspec.to_builtins(decision.reasons),
        "features": dict(decision.features),
        "ruleset_version": decision.ruleset_version,
        "model_version": decision.model_version,
        "latency_ms": dict(decision.latency_ms),
        "degraded": decision.degraded,
        "decided_at": decision.decided_at,
    }


def alert_row(record: DecisionRecord) -> Row | None:
    """The ``alerts`` row of ``record``, or ``None`` when its decision is ``allow``."""
    decision = record.decision
    if decision.outcome not in ALERTING_OUTCOMES:
        return None
    top = decision.reasons[0] if decision.reasons else None  # reasons arrive ranked
    return {
        "transaction_id": decision.transaction_id,
        "account_id": record.transaction.account_id,
        "outcome": decision.outcome.value,
        "risk_score": decision.risk_score,
        "top_reason": top.message if top is not None else None,
        "rule_hits": [r.rule_id for r in decision.rule_results if r.outcome is RuleOutcome.HIT],
        "status": AlertStatus.OPEN.value,
        "created_at": decision.decided_at,
    }


def unique_by_transaction(records: list[DecisionRecord]) -> list[DecisionRecord]:
    """``records`` without repeated ``transaction_id`` s; the first occurrence wins."""
    seen: set[str] = set()
    unique: list[DecisionRecord] = []
    for record in records:
        key = record.transaction.transaction_id
        if key not in seen:
            seen.add(key)
            unique.append(record)
    return unique
