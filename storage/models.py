"""The PostgreSQL schema as SQLAlchemy declarative models: every Vigil table, in this one module.

Four tables carry the decision path: ``transactions`` (what arrived), ``decisions`` (what Vigil
answered, with every rule result and reason), ``alerts`` (every ``review`` / ``block`` decision,
with its investigation state) and ``logs`` (structlog events). Rows are keyed by the client's
``transaction_id``, which is what makes the stream writer idempotent.

``labels`` keeps every known outcome (fraud or legit) of a transaction as one row per label event,
history included (:mod:`storage.labels`).

``model_versions`` and ``model_events`` are the model registry, ``shadow_scores`` the challenger's
scores on live traffic (:mod:`storage.model_registry`).

``api_keys`` holds the gateway's keys (:mod:`storage.api_keys`); ``users``, ``user_sessions`` and
``audit_log`` hold the web app's people (:mod:`storage.users`). Those modules keep the logic and
import their rows from here, so Alembic sees the whole schema by importing this module alone.

Enumerations are ``VARCHAR`` + ``CHECK`` (not PostgreSQL enums) so adding a value is a one-line
migration.
"""

from __future__ import annotations

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
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.access import Scope

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

API_KEY_PREFIX_LENGTH: Final = 8
"""Length of an API key's public prefix (``vgl_<prefix>_<secret>``, :mod:`storage.api_keys`)."""
MAX_LABEL_SOURCE_LENGTH: Final = 32
"""Longest label source name (``core.labels.LabelSourceName``)."""
MAX_DISPLAY_NAME_LENGTH: Final = 128
"""Longest display name of a web-app account."""
_SCOPES_SQL: Final = ", ".join(f"'{scope.value}'" for scope in Scope)
"""The scopes an API key may hold, as SQL literals for its CHECK constraint."""


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
        CheckConstraint("amount >= 0", name="amount_not_negative"),
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


class LabelRow(Base):
    """One label event: a transaction known to be fraud or legit from ``known_at`` on.

    Rows are never updated or deleted: a transaction's current label is its row with the greatest
    ``known_at`` (ties: the latest ``recorded_at``, then ``id``). The same transaction, label,
    known-at time and source twice is one event (the unique constraint makes recording idempotent).
    """

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("transactions.transaction_id", ondelete="CASCADE")
    )
    label: Mapped[str] = mapped_column(String(8))
    known_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(MAX_LABEL_SOURCE_LENGTH))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(ID_LENGTH))

    __table_args__ = (
        CheckConstraint("label IN ('fraud', 'legit')", name="label_known"),
        UniqueConstraint("transaction_id", "label", "known_at", "source"),
    )


class ModelVersionRow(Base):
    """One registered model artifact (:mod:`storage.model_registry`).

    ``role`` is ``champion`` (it decides), ``challenger`` (scored in shadow) or NULL; at most one
    row holds each role (a partial unique index).
    """

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    artifact_dir: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    feature_spec_version: Mapped[str] = mapped_column(Text)
    metrics: Mapped[Json]
    training: Mapped[Json]
    role: Mapped[str | None] = mapped_column(String(16))
    registered_at: Mapped[datetime]
    registered_by: Mapped[str] = mapped_column(String(ID_LENGTH))
    promoted_at: Mapped[datetime | None]
    promoted_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))

    __table_args__ = (
        CheckConstraint("role IS NULL OR role IN ('champion', 'challenger')", name="role_known"),
        Index(
            "uq_model_versions_role",
            "role",
            unique=True,
            postgresql_where=text("role IS NOT NULL"),
        ),
    )


class ModelEventRow(Base):
    """One change of the model registry, kept forever: who did what to which version, when."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    version: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("model_versions.version", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(ID_LENGTH))
    at: Mapped[datetime] = mapped_column(index=True)
    previous_champion: Mapped[str | None] = mapped_column(String(ID_LENGTH))

    __table_args__ = (
        CheckConstraint(
            "action IN ('registered', 'promoted', 'rolled_back', 'challenger_set', "
            "'challenger_cleared')",
            name="action_known",
        ),
    )


class ShadowScoreRow(Base):
    """A challenger model's risk for one transaction, scored in shadow (never acted on)."""

    __tablename__ = "shadow_scores"

    transaction_id: Mapped[str] = mapped_column(
        String(ID_LENGTH),
        ForeignKey("transactions.transaction_id", ondelete="CASCADE"),
        primary_key=True,
    )
    model_version: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    risk: Mapped[float] = mapped_column(Double)
    decided_at: Mapped[datetime] = mapped_column(index=True)


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


class ApiKeyRow(Base):
    """One issued API key of the gateway, known by the SHA-256 of its text."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(API_KEY_PREFIX_LENGTH), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(
            f"cardinality(scopes) > 0 AND scopes <@ ARRAY[{_SCOPES_SQL}]::varchar[]",
            name="scopes_known",
        ),
    )


class UserRow(Base):
    """One account of the web app."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(MAX_DISPLAY_NAME_LENGTH))
    role: Mapped[str] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint("role IN ('analyst', 'admin')", name="role_known"),)


class SessionRow(Base):
    """A signed-in browser, known by the SHA-256 of its token."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditRow(Base):
    """One action somebody took in the web app."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    details: Mapped[Json]
