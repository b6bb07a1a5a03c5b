"""label events (storage/labels.py) and the `label` API-key scope

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10

The downgrade fails while an API key holds the `label` scope: revoke and edit such keys first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SCOPES_CHECK = "cardinality(scopes) > 0 AND scopes <@ ARRAY[{}]::varchar[]"
_SCOPES_BEFORE = "'score', 'read', 'admin'"
_SCOPES_AFTER = "'score', 'read', 'label', 'admin'"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "labels",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("transaction_id", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=8), nullable=False),
        sa.Column("known_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.CheckConstraint("label IN ('fraud', 'legit')", name=op.f("ck_labels_label_known")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.transaction_id"],
            name=op.f("fk_labels_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint(
            "transaction_id",
            "label",
            "known_at",
            "source",
            name=op.f("uq_labels_transaction_id_label_known_at_source"),
        ),
    )
    _replace_scopes_check(_SCOPES_AFTER)


def downgrade() -> None:
    """Revert this revision."""
    _replace_scopes_check(_SCOPES_BEFORE)
    op.drop_table("labels")


def _replace_scopes_check(scopes: str) -> None:
    name = op.f("ck_api_keys_scopes_known")
    op.drop_constraint(name, "api_keys", type_="check")
    op.create_check_constraint(name, "api_keys", _SCOPES_CHECK.format(scopes))
