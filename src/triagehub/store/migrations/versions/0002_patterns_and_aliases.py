"""patterns and aliases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "patterns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("template_hash", sa.String(length=16), nullable=False),
        sa.Column("normalizer_version", sa.Integer(), nullable=False),
        sa.Column("issues_count", sa.Integer(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patterns")),
        sa.UniqueConstraint("key", name=op.f("uq_patterns_key")),
    )
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patterns_last_seen"), ["last_seen"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_patterns_template_hash"), ["template_hash"], unique=False
        )

    op.create_table(
        "pattern_bands",
        sa.Column("band", sa.String(length=24), nullable=False),
        sa.Column("pattern_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pattern_id"], ["patterns.id"], name=op.f("fk_pattern_bands_pattern_id_patterns")
        ),
        sa.PrimaryKeyConstraint("band", "pattern_id", name=op.f("pk_pattern_bands")),
    )
    op.create_table(
        "issue_aliases",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_aliases_issue_id_issues")
        ),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_issue_aliases")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pattern_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_issues_pattern_id"), ["pattern_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_issues_repository_id_check_id"),
            ["repository_id", "check_id"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issues_repository_id_check_id"))
        batch_op.drop_index(batch_op.f("ix_issues_pattern_id"))
        batch_op.drop_column("pattern_id")

    op.drop_table("issue_aliases")
    op.drop_table("pattern_bands")
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patterns_template_hash"))
        batch_op.drop_index(batch_op.f("ix_patterns_last_seen"))

    op.drop_table("patterns")
