"""model registry (`model_versions`, `model_events`) and challenger scores (`shadow_scores`)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(length=128)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "model_versions",
        sa.Column("version", _ID, nullable=False),
        sa.Column("artifact_dir", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("feature_spec_version", sa.Text(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("training", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("registered_at", _TIME, nullable=False),
        sa.Column("registered_by", _ID, nullable=False),
        sa.Column("promoted_at", _TIME, nullable=True),
        sa.Column("promoted_by", _ID, nullable=True),
        sa.CheckConstraint(
            "role IS NULL OR role IN ('champion', 'challenger')",
            name=op.f("ck_model_versions_role_known"),
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_model_versions")),
    )
    op.create_index(
        "uq_model_versions_role",
        "model_versions",
        ["role"],
        unique=True,
        postgresql_where=sa.text("role IS NOT NULL"),
    )
    op.create_table(
        "model_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("version", _ID, nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", _ID, nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("previous_champion", _ID, nullable=True),
        sa.CheckConstraint(
            "action IN ('registered', 'promoted', 'rolled_back', 'challenger_set', "
            "'challenger_cleared')",
            name=op.f("ck_model_events_action_known"),
        ),
        sa.ForeignKeyConstraint(
            ["version"],
            ["model_versions.version"],
            name=op.f("fk_model_events_version_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_events")),
    )
    op.create_index(op.f("ix_model_events_at"), "model_events", ["at"], unique=False)
    op.create_table(
        "shadow_scores",
        sa.Column("transaction_id", _ID, nullable=False),
        sa.Column("model_version", _ID, nullable=False),
        sa.Column("risk", sa.Double(), nullable=False),
        sa.Column("decided_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.transaction_id"],
            name=op.f("fk_shadow_scores_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transaction_id", "model_version", name=op.f("pk_shadow_scores")),
    )
    op.create_index(
        op.f("ix_shadow_scores_decided_at"), "shadow_scores", ["decided_at"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("shadow_scores")
    op.drop_table("model_events")
    op.drop_index("uq_model_versions_role", table_name="model_versions")
    op.drop_table("model_versions")
