"""The issues list: an issue's similar issues are read from an index

Each page of the issues list names, for every issue, the other issues of its pattern, newest
activity first. With an index on ``pattern_id`` alone the database read each of those issues
from the table and sorted them; ``(pattern_id, last_seen, id)`` holds what the query reads, in
its order (on SQLite, 100,000 issues: 11 ms a page down to 2 ms). It replaces the index on
``pattern_id`` alone, which it covers.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_issues_pattern_id_last_seen_id", "issues", ["pattern_id", "last_seen", "id"]
    )
    op.drop_index("ix_issues_pattern_id", table_name="issues")


def downgrade() -> None:
    op.create_index("ix_issues_pattern_id", "issues", ["pattern_id"])
    op.drop_index("ix_issues_pattern_id_last_seen_id", table_name="issues")
