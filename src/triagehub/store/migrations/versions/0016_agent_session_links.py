"""Agent sessions linked to the issues they work on; pull requests' head branches

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("issue_prs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("head_ref", sa.String(length=255), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_issue_prs_repo_number"), ["repo", "number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_issue_prs_head_ref"), ["head_ref"], unique=False)
    op.create_table(
        "agent_session_issues",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=300), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["agent_sessions.id"],
            name="fk_agent_session_issues_session_id_agent_sessions",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name="fk_agent_session_issues_issue_id_issues"
        ),
        sa.PrimaryKeyConstraint("session_id", "issue_id", name="pk_agent_session_issues"),
    )
    op.create_index(
        "ix_agent_session_issues_issue_id", "agent_session_issues", ["issue_id"], unique=False
    )
    op.create_table(
        "agent_session_refs",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["agent_sessions.id"],
            name="fk_agent_session_refs_session_id_agent_sessions",
        ),
        sa.PrimaryKeyConstraint("session_id", "kind", "value", name="pk_agent_session_refs"),
    )
    op.create_index(
        "ix_agent_session_refs_kind_value", "agent_session_refs", ["kind", "value"], unique=False
    )
    # The sessions already linked to an issue (their declared work item) keep their link.
    op.execute(
        "INSERT INTO agent_session_issues (session_id, issue_id, via, ref, linked_at) "
        "SELECT id, issue_id, 'work_item', CAST(issue_id AS VARCHAR(20)), started_at "
        "FROM agent_sessions WHERE issue_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_agent_session_refs_kind_value", table_name="agent_session_refs")
    op.drop_table("agent_session_refs")
    op.drop_index("ix_agent_session_issues_issue_id", table_name="agent_session_issues")
    op.drop_table("agent_session_issues")
    with op.batch_alter_table("issue_prs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_prs_head_ref"))
        batch_op.drop_index(batch_op.f("ix_issue_prs_repo_number"))
        batch_op.drop_column("head_ref")
