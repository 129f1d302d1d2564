"""Retention: index the columns that point at runs, so that deleting old runs is cheap

``triagehub db prune`` deletes runs nothing kept refers to; the database checks every foreign
key to ``runs`` on each delete, and without these indexes each check reads a whole table.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("issue_events", "run_id"),
    ("check_pass_logs", "run_id"),
    ("green_diffs", "pass_run_id"),
)


def upgrade() -> None:
    for table, column in _INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(_INDEXES):
        op.drop_index(f"ix_{table}_{column}", table_name=table)
