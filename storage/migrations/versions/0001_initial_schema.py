"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "logs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("logger", sa.Text(), nullable=True),
        sa.Column("transaction_id", sa.String(length=128), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logs")),
    )
    op.create_index(op.f("ix_logs_transaction_id"), "logs", ["transaction_id"], unique=False)
    op.create_index(op.f("ix_logs_ts"), "logs", ["ts"], unique=False)
    op.create_table(
        "transactions",
        sa.Column("transaction_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("merchant_category", sa.String(length=4), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_transactions_amount_positive")),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_transactions")),
    )
    op.create_index(
        op.f("ix_transactions_account_id_timestamp"),
        "transactions",
        ["account_id", "timestamp"],
        unique=False,
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("transaction_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("risk_score", sa.Double(), nullable=False),
        sa.Column("top_reason", sa.Text(), nullable=True),
        sa.Column("rule_hits", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=8), server_default="open", nullable=False),
        sa.Column("label", sa.String(length=8), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("labelled_by", sa.String(length=128), nullable=True),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "label IS NULL OR label IN ('fraud', 'legit')", name=op.f("ck_alerts_label_known")
        ),
        sa.CheckConstraint(
            "outcome IN ('review', 'block')", name=op.f("ck_alerts_outcome_alerting")
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_alerts_status_known")),
        sa.CheckConstraint(
            "(label IS NULL) = (labelled_at IS NULL) AND (label IS NULL) = (labelled_by IS NULL)",
            name=op.f("ck_alerts_label_complete"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.transaction_id"],
            name=op.f("fk_alerts_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_alerts_transaction_id")),
    )
    op.create_index(op.f("ix_alerts_account_id"), "alerts", ["account_id"], unique=False)
    op.create_index(op.f("ix_alerts_created_at_id"), "alerts", ["created_at", "id"], unique=False)
    op.create_index(
        op.f("ix_alerts_rule_hits"), "alerts", ["rule_hits"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        op.f("ix_alerts_status_created_at_id"),
        "alerts",
        ["status", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "decisions",
        sa.Column("transaction_id", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("risk_score", sa.Double(), nullable=False),
        sa.Column("model_scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rule_results", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("features", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("ruleset_version", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("latency_ms", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('allow', 'review', 'block')", name=op.f("ck_decisions_outcome_known")
        ),
        sa.CheckConstraint(
            "risk_score >= 0 AND risk_score <= 1", name=op.f("ck_decisions_risk_score_unit")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.transaction_id"],
            name=op.f("fk_decisions_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_decided_at"), "decisions", ["decided_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_decisions_decided_at"), table_name="decisions")
    op.drop_table("decisions")
    op.drop_index(op.f("ix_alerts_status_created_at_id"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_rule_hits"), table_name="alerts", postgresql_using="gin")
    op.drop_index(op.f("ix_alerts_created_at_id"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_account_id"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_index(op.f("ix_transactions_account_id_timestamp"), table_name="transactions")
    op.drop_table("transactions")
    op.drop_index(op.f("ix_logs_ts"), table_name="logs")
    op.drop_index(op.f("ix_logs_transaction_id"), table_name="logs")
    op.drop_table("logs")
