"""lifecycle: snooze, escalation and SLA breach on issues

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("snooze_occurrences", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("escalations", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
        batch.add_column(sa.Column("sla_breached_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_issues_state_sla_due_at", ["state", "sla_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_index("ix_issues_state_sla_due_at")
        for name in (
            "sla_breached_at",
            "escalations",
            "escalated_at",
            "escalation_level",
            "snooze_occurrences",
            "snoozed_until",
        ):
            batch.drop_column(name)
