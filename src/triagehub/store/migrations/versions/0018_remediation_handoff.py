"""Remediation sessions: the key a hand-off gives the agent (agent_sessions.handoff_key)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_sessions") as batch:
        batch.add_column(sa.Column("handoff_key", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_agent_sessions_handoff_key", ["handoff_key"])


def downgrade() -> None:
    with op.batch_alter_table("agent_sessions") as batch:
        batch.drop_constraint("uq_agent_sessions_handoff_key", type_="unique")
        batch.drop_column("handoff_key")
