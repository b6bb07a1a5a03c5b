"""The PostgreSQL schema as SQLAlchemy declarative models.

Four tables carry the decision path: ``transactions`` (what arrived), ``decisions`` (what Vigil
answered, with every rule result and reason), ``alerts`` (every ``review`` / ``block`` decision,
with its investigation state) and ``logs`` (structlog events). Rows are keyed by the client's
``transaction_id``, which is what makes the stream writer idempotent.

Enumerations are ``VARCHAR`` + ``CHECK`` (not PostgreSQL enums) so adding a value is a one-line
migration. Other packages add their tables (API keys, users) to the same :class:`Base` metadata
and ship their own Alembic revision.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_LENGTH: Final = 128
"""Length of identifiers (``core.models.Identifier``)."""

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so Alembic can alter and drop them later."""


class AlertStatus(enum.StrEnum):
    """Whether an alert still needs someone's attention."""

    OPEN = "open"
    CLOSED = "closed"


class AlertLabel(enum.StrEnum):
    """An investigator's verdict on an alert."""

    FRAUD = "fraud"
    LEGIT = "legit"


Json = dict[str, Any]
JsonList = list[Any]


class Base(DeclarativeBase):
    """Declarative base of every Vigil table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: DateTime(timezone=True),
        Json: JSONB,
        JsonList: JSONB,
        Decimal: Numeric(18, 4),
    }


class TransactionRow(Base):
    """One transaction as received (``core.models.Transaction``)."""

    __tablename__ = "transactions"

    transaction_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    timestamp: Mapped[datetime]
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    merchant_category: Mapped[str] = mapped_column(String(4))
    country: Mapped[str] = mapped_column(String(2))
    channel: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    attributes: Mapped[Json] = mapped_column(default=dict)
    received_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index(None, "account_id", "timestamp"),
    )


class DecisionRow(Base):
    """Vigil's answer for one transaction (``core.models.Decision``)."""

    __tablename__ = "decisions"

    transaction_id: Mapped[str] = mapped_column(
        String(ID_LENGTH),
        ForeignKey("transactions.transaction_id", ondelete="CASCADE"),
        primary_key=True,
    )
    outcome: Mapped[str] = mapped_column(String(8))
    risk_score: Mapped[float] = mapped_column(Double)
    model_scores: Mapped[JsonList]
    rule_results: Mapped[JsonList]
    reasons: Mapped[JsonList]
    features: Mapped[Json]
    ruleset_version: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(Text)
    latency_ms: Mapped[Json]
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (
        CheckConstraint("outcome IN ('allow', 'review', 'block')", name="outcome_known"),
        CheckConstraint("risk_score >= 0 AND risk_score <= 1", name="risk_score_unit"),
    )


class AlertRow(Base):
    """A ``review`` or ``block`` decision awaiting (or done with) investigation."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(
        String(ID_LENGTH),
        ForeignKey("transactions.transaction_id", ondelete="CASCADE"),
        unique=True,
    )
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    outcome: Mapped[str] = mapped_column(String(8))
    risk_score: Mapped[float] = mapped_column(Double)
    top_reason: Mapped[str | None] = mapped_column(Text)
    rule_hits: Mapped[list[str]] = mapped_column(ARRAY(Text))
    status: Mapped[str] = mapped_column(String(8), server_default="open")
    label: Mapped[str | None] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    labelled_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    labelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("outcome IN ('review', 'block')", name="outcome_alerting"),
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
        CheckConstraint("label IS NULL OR label IN ('fraud', 'legit')", name="label_known"),
        CheckConstraint(
            "(label IS NULL) = (labelled_at IS NULL) AND (label IS NULL) = (labelled_by IS NULL)",
            name="label_complete",
        ),
        Index(None, "created_at", "id"),
        Index(None, "status", "created_at", "id"),
        Index(None, "rule_hits", postgresql_using="gin"),
    )


class LogRow(Base):
    """One structlog event."""

    __tablename__ = "logs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    level: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(Text)
    logger: Mapped[str | None] = mapped_column(Text)
    transaction_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    payload: Mapped[Json]


from storage import api_keys as _api_keys  # noqa: E402, F401 - registers the api_keys table
from storage import users as _users  # noqa: E402, F401 - registers the users tables on Base.metadata
