"""Spec events: OpenSpec changes created, their task progress, archived or removed (the Specs
tab's activity, the live stream's ``spec`` events)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spec_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("change_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("marker", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("tasks_done", sa.Integer(), nullable=False),
        sa.Column("tasks_total", sa.Integer(), nullable=False),
        sa.Column("archived_as", sa.String(length=300), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spec_events"),
        sa.UniqueConstraint(
            "project",
            "change_id",
            "kind",
            "marker",
            name="uq_spec_events_project_change_id_kind_marker",
        ),
    )
    op.create_index(
        "ix_spec_events_project_change_id_id",
        "spec_events",
        ["project", "change_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_spec_events_project_change_id_id", table_name="spec_events")
    op.drop_table("spec_events")
