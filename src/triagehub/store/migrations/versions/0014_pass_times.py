"""Check stats keep the finish times of their latest green runs (event-time auto-resolution)

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("check_stats") as batch:
        batch.add_column(sa.Column("pass_times", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check_stats") as batch:
        batch.drop_column("pass_times")
