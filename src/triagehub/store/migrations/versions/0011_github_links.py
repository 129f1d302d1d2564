"""GitHub issue links: where each issue is mirrored and what was last synced

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "github_repo",
    "github_number",
    "github_node_id",
    "github_url",
    "github_status",
    "github_synced_at",
    "github_synced_version",
    "github_body_hash",
    "github_body_at",
    "github_state",
    "github_labels",
    "github_event_cursor",
    "github_agent_at",
)


def upgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("github_repo", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("github_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("github_node_id", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("github_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("github_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("github_synced_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("github_synced_version", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("github_body_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("github_body_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("github_state", sa.String(length=10), nullable=True))
        batch.add_column(
            sa.Column("github_labels", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch.add_column(sa.Column("github_event_cursor", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("github_agent_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_issues_github_repo_github_number", ["github_repo", "github_number"])


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_index("ix_issues_github_repo_github_number")
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
