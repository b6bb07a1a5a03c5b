"""The live alert table's model, free of any UI: items, filters, and a bounded, de-duplicated list.

An :class:`AlertItem` is one row, built either from a stream record (a new alert, before the
writer has stored it and given it an id) or from a stored alert and its transaction. The same
:class:`LiveFilter` selects history from PostgreSQL (:meth:`LiveFilter.alert_filter`) and
decides whether a pushed alert belongs on a page (:meth:`LiveFilter.matches`), so a filtered page
never shows a live row its own query would not return.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from core.alerts import AlertLabel, AlertStatus
from core.errors import InvalidInputError, Problem
from core.models import Outcome, Transaction
from core.records import DecisionRecord
from storage.repository import Alert, AlertCursor, AlertFilter
from storage.rows import alert_row

MAX_ALERT_ID = 2**63 - 1
"""Largest BIGINT: a cursor at a live row (no id yet) keeps every alert of that instant."""


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One alert as the live table shows it; ``alert_id`` is ``None`` until it is stored."""

    transaction_id: str
    alert_id: int | None
    account_id: str
    amount: Decimal | None
    currency: str | None
    merchant_id: str | None
    country: str | None
    outcome: Outcome
    risk_score: float
    top_reason: str | None
    rule_hits: tuple[str, ...]
    status: AlertStatus
    label: AlertLabel | None
    created_at: datetime

    @property
    def cursor(self) -> AlertCursor:
        """The listing position just after this item (newest-first order)."""
        return AlertCursor(self.created_at, self.alert_id or MAX_ALERT_ID)


def item_from_record(record: DecisionRecord) -> AlertItem | None:
    """The alert a stream record makes, or ``None`` when its decision is ``allow``."""
    row = alert_row(record)  # the writer's own rule for what becomes an alert and what it shows
    if row is None:
        return None
    txn = record.transaction
    return AlertItem(
        transaction_id=txn.transaction_id,
        alert_id=None,
        account_id=txn.account_id,
        amount=txn.amount,
        currency=txn.currency,
        merchant_id=txn.merchant_id,
        country=txn.country,
        outcome=Outcome(row["outcome"]),
        risk_score=row["risk_score"],
        top_reason=row["top_reason"],
        rule_hits=tuple(row["rule_hits"]),
        status=AlertStatus(row["status"]),
        label=None,
        created_at=row["created_at"],
    )


def item_from_alert(alert: Alert, transaction: Transaction | None) -> AlertItem:
    """A stored alert with its transaction's details (``None``: details unknown)."""
    return AlertItem(
        transaction_id=alert.transaction_id,
        alert_id=alert.id,
        account_id=alert.account_id,
        amount=transaction.amount if transaction else None,
        currency=transaction.currency if transaction else None,
        merchant_id=transaction.merchant_id if transaction else None,
        country=transaction.country if transaction else None,
        outcome=alert.outcome,
        risk_score=alert.risk_score,
        top_reason=alert.top_reason,
        rule_hits=alert.rule_hits,
        status=alert.status,
        label=alert.label,
        created_at=alert.created_at,
    )


def with_alert_state(item: AlertItem, alert: Alert) -> AlertItem:
    """``item`` after an investigator changed ``alert`` (status, label, and now its id)."""
    return replace(item, alert_id=alert.id, status=alert.status, label=alert.label)


@dataclass(frozen=True, slots=True)
class LiveFilter:
    """What the analyst asked to see; ``None`` means any. ``within``: created in the last span."""

    outcome: Outcome | None = None
    status: AlertStatus | None = None
    min_score: float = 0.0
    max_score: float = 1.0
    rule_id: str | None = None
    account_id: str | None = None
    within: timedelta | None = None

    def __post_init__(self) -> None:
        """Reject score bounds outside [0, 1] or crossed, and a non-positive span."""
        problems = [
            Problem(name, "must be between 0 and 1")
            for name, value in (("min_score", self.min_score), ("max_score", self.max_score))
            if not 0.0 <= value <= 1.0
        ]
        if not problems and self.min_score > self.max_score:
            problems.append(Problem("max_score", "must not be below min_score"))
        if self.within is not None and self.within <= timedelta(0):
            problems.append(Problem("within", "must be a positive time span"))
        if problems:
            raise InvalidInputError("invalid alert filter", problems)

    def alert_filter(self, now: datetime) -> AlertFilter:
        """The repository filter selecting the same alerts at ``now``."""
        return AlertFilter(
            outcome=self.outcome,
            status=self.status,
            account_id=self.account_id or None,
            rule_id=self.rule_id or None,
            min_score=self.min_score if self.min_score > 0.0 else None,
            max_score=self.max_score if self.max_score < 1.0 else None,
            since=now - self.within if self.within is not None else None,
        )

    def matches(self, item: AlertItem, now: datetime) -> bool:
        """Whether ``item`` belongs on a page showing this filter at ``now``."""
        return (
            (self.outcome is None or item.outcome is self.outcome)
            and (self.status is None or item.status is self.status)
            and self.min_score <= item.risk_score <= self.max_score
            and (not self.rule_id or self.rule_id in item.rule_hits)
            and (not self.account_id or item.account_id == self.account_id)
            and (self.within is None or item.created_at >= now - self.within)
        )


class LiveRows:
    """At most ``limit`` items, newest first, one per transaction; remembers which were pushed."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.items: list[AlertItem] = []
        self.pushed: set[str] = set()
        """Transactions that arrived live (highlighted) rather than from history."""

    def reset(self, items: Iterable[AlertItem]) -> None:
        """Show ``items`` (a page of history) and nothing else."""
        self.items = _newest_first(_unique(items))[: self.limit]
        self.pushed.clear()

    def push(self, items: Iterable[AlertItem]) -> list[AlertItem]:
        """Add new alerts, dropping the oldest beyond the limit; return those actually added."""
        shown = {item.transaction_id for item in self.items}
        added = [item for item in _unique(items) if item.transaction_id not in shown]
        if not added:
            return []
        self.items = _newest_first([*added, *self.items])[: self.limit]
        kept = {item.transaction_id for item in self.items}
        self.pushed = {t for t in self.pushed if t in kept}
        self.pushed.update(item.transaction_id for item in added if item.transaction_id in kept)
        return [item for item in added if item.transaction_id in kept]

    def update(self, alert: Alert) -> bool:
        """Apply an investigator's change to the row of ``alert``; whether it is shown."""
        for index, item in enumerate(self.items):
            if item.transaction_id == alert.transaction_id:
                self.items[index] = with_alert_state(item, alert)
                return True
        return False

    @property
    def oldest(self) -> AlertItem | None:
        """The last row shown (where "older" history continues)."""
        return self.items[-1] if self.items else None


def _unique(items: Iterable[AlertItem]) -> list[AlertItem]:
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.transaction_id not in seen:
            seen.add(item.transaction_id)
            unique.append(item)
    return unique


def _newest_first(items: list[AlertItem]) -> list[AlertItem]:
    return sorted(items, key=lambda i: (i.created_at, i.alert_id or MAX_ALERT_ID), reverse=True)
