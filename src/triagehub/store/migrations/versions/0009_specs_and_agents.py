"""OpenSpec change links on issues, agent sessions and their hook events

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A flat schema change (a column and the agent tables): long, but one statement per table.
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("spec_change", sa.String(length=200), nullable=True))
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_key", sa.String(length=200), nullable=False),
        sa.Column("agent", sa.String(length=40), nullable=False),
        sa.Column("session_type", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("spec_change", sa.String(length=200), nullable=True),
        sa.Column("cwd", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=60), nullable=True),
        sa.Column("current_tool", sa.String(length=100), nullable=True),
        sa.Column("current_tool_use_id", sa.String(length=200), nullable=True),
        sa.Column("events_count", sa.Integer(), nullable=False),
        sa.Column("tool_count", sa.Integer(), nullable=False),
        sa.Column("tool_successes", sa.Integer(), nullable=False),
        sa.Column("duration_total_ms", sa.Float(), nullable=False),
        sa.Column("durations_count", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_agent_sessions_issue_id_issues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_sessions")),
        sa.UniqueConstraint("session_key", name=op.f("uq_agent_sessions_session_key")),
    )
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_sessions_status_last_activity_at"),
            ["status", "last_activity_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_agent_sessions_issue_id"), ["issue_id"], unique=False)
    op.create_table(
        "agent_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("hook_event", sa.String(length=40), nullable=False),
        sa.Column("tool_name", sa.String(length=100), nullable=True),
        sa.Column("tool_use_id", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("excerpt", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["agent_sessions.id"],
            name=op.f("fk_agent_events_session_id_agent_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_agent_events_event_key")),
    )
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_events_session_id_id"), ["session_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agent_events_session_id_tool_use_id"),
            ["session_id", "tool_use_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_events_session_id_tool_use_id"))
        batch_op.drop_index(batch_op.f("ix_agent_events_session_id_id"))
    op.drop_table("agent_events")
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_sessions_issue_id"))
        batch_op.drop_index(batch_op.f("ix_agent_sessions_status_last_activity_at"))
    op.drop_table("agent_sessions")
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("spec_change")
