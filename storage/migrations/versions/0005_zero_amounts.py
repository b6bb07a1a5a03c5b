"""zero amounts are real: `transactions.amount` may be 0 (card verifications)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

The downgrade fails while a zero-amount transaction is stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.drop_constraint(op.f("ck_transactions_amount_positive"), "transactions", type_="check")
    op.create_check_constraint(
        op.f("ck_transactions_amount_not_negative"), "transactions", "amount >= 0"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_constraint(op.f("ck_transactions_amount_not_negative"), "transactions", type_="check")
    op.create_check_constraint(
        op.f("ck_transactions_amount_positive"), "transactions", "amount > 0"
    )
