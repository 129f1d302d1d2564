"""Dashboard sessions ended by "Sign out": their cookie is refused until it would have expired

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_logouts",
        sa.Column("session_nonce", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_nonce", name=op.f("pk_dashboard_logouts")),
    )
    with op.batch_alter_table("dashboard_logouts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_logouts_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dashboard_logouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_logouts_expires_at"))
    op.drop_table("dashboard_logouts")
