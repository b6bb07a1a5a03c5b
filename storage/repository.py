"""Reads and investigator actions for the API and the UI.

Results are plain frozen values (core ``Transaction`` / ``Decision`` and :class:`Alert`), never ORM
objects bound to a session. Alerts are listed newest first with keyset pagination on
``(created_at, id)``: a page's :attr:`AlertPage.next_cursor` is passed back as ``after``, and
rows arriving meanwhile never shift or repeat a page.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy import Select, and_, select, tuple_, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from core.alerts import AlertLabel, AlertStatus
from core.clock import Clock, SystemClock
from core.errors import InvalidInputError, NotFoundError, Problem
from core.labels import LabelSource
from core.models import Decision, Outcome, Transaction
from storage.labels import NewLabel, record_labels
from storage.models import ID_LENGTH, AlertRow, Base, DecisionRow, TransactionRow

MAX_PAGE_SIZE: Final = 500
MAX_NOTE_LENGTH: Final = 4000

_alerts = Base.metadata.tables[AlertRow.__tablename__]
_decisions = Base.metadata.tables[DecisionRow.__tablename__]
_transactions = Base.metadata.tables[TransactionRow.__tablename__]
_decision_columns = [c for c in _decisions.c if c.name != "transaction_id"]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as investigators see it."""

    id: int
    transaction_id: str
    account_id: str
    outcome: Outcome
    risk_score: float
    top_reason: str | None
    rule_hits: tuple[str, ...]
    status: AlertStatus
    label: AlertLabel | None
    note: str | None
    labelled_by: str | None
    labelled_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A transaction, Vigil's decision on it, when it arrived, and its alert if it has one."""

    transaction: Transaction
    decision: Decision
    received_at: datetime
    alert: Alert | None


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Conditions an alert must meet; ``None`` means any. Time bounds: ``[since, until)``."""

    outcome: Outcome | None = None
    status: AlertStatus | None = None
    label: AlertLabel | None = None
    account_id: str | None = None
    rule_id: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertCursor:
    """Where the previous page ended; :meth:`encode` gives an opaque token for URLs."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        """An URL-safe token for this position."""
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> AlertCursor:
        """The position in ``token``; :class:`InvalidInputError` when it is not one of ours."""
        invalid = InvalidInputError(
            "invalid page cursor", [Problem("cursor", "not a cursor returned by a listing")]
        )
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            when, _, ident = raw.partition("|")
            created_at = datetime.fromisoformat(when)
            cursor = cls(created_at=created_at, id=int(ident))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise invalid from None
        if created_at.tzinfo is None:
            raise invalid
        return cursor


@dataclass(frozen=True, slots=True)
class AlertPage:
    """One page of alerts, newest first, and the cursor of the next page (``None``: last)."""

    items: list[Alert]
    next_cursor: AlertCursor | None


class Repository:
    """Queries and updates over the decision tables."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()

    async def get_decision(self, transaction_id: str) -> StoredDecision:
        """The stored decision for ``transaction_id``; :class:`NotFoundError` if there is none."""
        query = (
            select(_transactions, *_decision_columns, _alerts.c.id.label("alert_id"))
            .join(_decisions, _decisions.c.transaction_id == _transactions.c.transaction_id)
            .outerjoin(_alerts, _alerts.c.transaction_id == _transactions.c.transaction_id)
            .where(_transactions.c.transaction_id == transaction_id)
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
            if row is None:
                raise NotFoundError(f"no decision for transaction {transaction_id!r}")
            alert = None
            if row["alert_id"] is not None:
                alert_query = select(_alerts).where(_alerts.c.id == row["alert_id"])
                alert = _alert((await connection.execute(alert_query)).mappings().one())
        return StoredDecision(
            transaction=_transaction(row),
            decision=_decision(row),
            received_at=row["received_at"],
            alert=alert,
        )

    async def list_alerts(
        self,
        filters: AlertFilter | None = None,
        *,
        limit: int = 50,
        after: AlertCursor | None = None,
    ) -> AlertPage:
        """Alerts matching ``filters``, newest first, at most ``limit``, after ``after``."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInputError(
                "invalid page size", [Problem("limit", f"must be 1 to {MAX_PAGE_SIZE}")]
            )
        query = _filtered(select(_alerts), filters or AlertFilter())
        if after is not None:
            query = query.where(
                tuple_(_alerts.c.created_at, _alerts.c.id) < tuple_(after.created_at, after.id)
            )
        query = query.order_by(_alerts.c.created_at.desc(), _alerts.c.id.desc()).limit(limit + 1)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        items = [_alert(row) for row in rows[:limit]]
        more = len(rows) > limit
        last = items[-1] if items else None
        cursor = AlertCursor(last.created_at, last.id) if more and last is not None else None
        return AlertPage(items=items, next_cursor=cursor)

    async def label_alert(
        self, alert_id: int, label: AlertLabel, *, note: str | None, by: str, close: bool = True
    ) -> Alert:
        """Record an investigator's verdict (replacing an earlier one); close the alert.

        The verdict is also a label event (source ``analyst``, known now) in ``labels``, written
        in the same transaction (:mod:`storage.labels`).
        """
        problems = []
        if not by.strip():
            problems.append(Problem("by", "who labels the alert must be given"))
        elif len(by) > ID_LENGTH:
            problems.append(Problem("by", f"at most {ID_LENGTH} characters"))
        if note is not None and len(note) > MAX_NOTE_LENGTH:
            problems.append(Problem("note", f"at most {MAX_NOTE_LENGTH} characters"))
        if note is not None and "\x00" in note:
            problems.append(Problem("note", "must not contain the NUL character (U+0000)"))
        if problems:
            raise InvalidInputError("invalid alert label", problems)
        now = self._clock.now()
        values: dict[str, Any] = {
            "label": label.value,
            "note": note,
            "labelled_by": by,
            "labelled_at": now,
        }
        if close:
            values["status"] = AlertStatus.CLOSED.value
        statement = (
            update(_alerts).where(_alerts.c.id == alert_id).values(**values).returning(_alerts)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(statement)).mappings().first()
            if row is None:
                raise NotFoundError(f"no alert with id {alert_id}")
            verdict = NewLabel(row["transaction_id"], label, now, LabelSource.ANALYST.value)
            await record_labels(connection, [verdict], by=by, now=now, raise_to_event_time=True)
        return _alert(row)

    async def set_alert_status(self, alert_id: int, status: AlertStatus) -> Alert:
        """Open or close an alert."""
        return await self._update(alert_id, {"status": status.value})

    async def recent_transactions(
        self, account_id: str, *, limit: int = 20
    ) -> list[StoredDecision]:
        """The account's latest transactions by event time, newest first, with decisions."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInputError(
                "invalid page size", [Problem("limit", f"must be 1 to {MAX_PAGE_SIZE}")]
            )
        query = (
            select(_transactions, *_decision_columns)
            .join(_decisions, _decisions.c.transaction_id == _transactions.c.transaction_id)
            .where(_transactions.c.account_id == account_id)
            .order_by(_transactions.c.timestamp.desc(), _transactions.c.transaction_id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            StoredDecision(
                transaction=_transaction(row),
                decision=_decision(row),
                received_at=row["received_at"],
                alert=None,
            )
            for row in rows
        ]

    async def _update(self, alert_id: int, values: dict[str, Any]) -> Alert:
        statement = (
            update(_alerts).where(_alerts.c.id == alert_id).values(**values).returning(_alerts)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(statement)).mappings().first()
        if row is None:
            raise NotFoundError(f"no alert with id {alert_id}")
        return _alert(row)


def _filtered(query: Select[Any], f: AlertFilter) -> Select[Any]:
    conditions = []
    if f.outcome is not None:
        conditions.append(_alerts.c.outcome == f.outcome.value)
    if f.status is not None:
        conditions.append(_alerts.c.status == f.status.value)
    if f.label is not None:
        conditions.append(_alerts.c.label == f.label.value)
    if f.account_id is not None:
        conditions.append(_alerts.c.account_id == f.account_id)
    if f.rule_id is not None:
        conditions.append(_alerts.c.rule_hits.contains([f.rule_id]))
    if f.min_score is not None:
        conditions.append(_alerts.c.risk_score >= f.min_score)
    if f.max_score is not None:
        conditions.append(_alerts.c.risk_score <= f.max_score)
    if f.since is not None:
        conditions.append(_alerts.c.created_at >= f.since)
    if f.until is not None:
        conditions.append(_alerts.c.created_at < f.until)
    return query.where(and_(*conditions)) if conditions else query


def _alert(row: RowMapping) -> Alert:
    return Alert(
        id=row["id"],
        transaction_id=row["transaction_id"],
        account_id=row["account_id"],
        outcome=Outcome(row["outcome"]),
        risk_score=row["risk_score"],
        top_reason=row["top_reason"],
        rule_hits=tuple(row["rule_hits"]),
        status=AlertStatus(row["status"]),
        label=AlertLabel(row["label"]) if row["label"] is not None else None,
        note=row["note"],
        labelled_by=row["labelled_by"],
        labelled_at=row["labelled_at"],
        created_at=row["created_at"],
    )


def _transaction(row: RowMapping) -> Transaction:
    fields = {name: row[name] for name in Transaction.__struct_fields__}
    return msgspec.convert(fields, Transaction)


def _decision(row: RowMapping) -> Decision:
    fields = {name: row[name] for name in Decision.__struct_fields__}
    return msgspec.convert(fields, Decision)
