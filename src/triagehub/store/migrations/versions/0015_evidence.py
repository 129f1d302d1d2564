"""Evidence pack: last passing log per check, green diffs, briefs, PRs

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_pass_logs",
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"], ["checks.id"], name="fk_check_pass_logs_check_id_checks"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_check_pass_logs_run_id_runs"),
        sa.PrimaryKeyConstraint("check_id", name="pk_check_pass_logs"),
    )
    op.create_table(
        "green_diffs",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("pass_run_id", sa.Integer(), nullable=False),
        sa.Column("new_lines", sa.Integer(), nullable=False),
        sa.Column("total_lines", sa.Integer(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_green_diffs_run_id_runs"),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"], name="fk_green_diffs_check_id_checks"),
        sa.ForeignKeyConstraint(
            ["pass_run_id"], ["runs.id"], name="fk_green_diffs_pass_run_id_runs"
        ),
        sa.PrimaryKeyConstraint("run_id", "check_id", name="pk_green_diffs"),
    )

    op.create_table(
        "investigations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("brief", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name="fk_investigations_issue_id_issues"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_investigations"),
        sa.UniqueConstraint("issue_id", "digest", name="uq_investigations_issue_id_digest"),
    )

    op.create_table(
        "issue_prs",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("repo", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("by_agent", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], name="fk_issue_prs_issue_id_issues"),
        sa.PrimaryKeyConstraint("issue_id", "url", name="pk_issue_prs"),
    )


def downgrade() -> None:
    op.drop_table("issue_prs")
    op.drop_table("investigations")
    op.drop_table("green_diffs")
    op.drop_table("check_pass_logs")
