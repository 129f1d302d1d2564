"""The issues list: its sort orders and similar issues read from indexes, ties included

A page of the issues list is read in ``(sort column, id)`` order. Issues seen in the same run
share their ``last_seen`` (a thousand of them at a time in ``benchmarks/api_latency.py``), and
PostgreSQL orders the ties of an index on the sort column alone by where the rows lie, not by
id: it read and sorted the whole group of ties for each page (19 ms for the first page of
100,000 issues; 0.2 ms with ``(last_seen, id)``). SQLite's indexes end with the rowid, the id,
so the new ones change nothing there but their names. The sort indexes of ``last_seen``,
``occurrences``, ``first_seen`` and ``(assignee, last_seen)`` get ``id`` as their last column.

Each page also names, for every issue, the other issues of its pattern, newest activity first.
With an index on ``pattern_id`` alone the database read each of them from the table and sorted
them; ``(pattern_id, last_seen, id)`` holds what the query reads (SQLite: 11 ms a page down to 2;
PostgreSQL: 26 ms to 0.7). Each new index replaces the one it extends.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (old name, old columns, new name, new columns)
_REPLACED = (
    ("ix_issues_last_seen", ["last_seen"], "ix_issues_last_seen_id", ["last_seen", "id"]),
    ("ix_issues_occurrences", ["occurrences"], "ix_issues_occurrences_id", ["occurrences", "id"]),
    ("ix_issues_first_seen", ["first_seen"], "ix_issues_first_seen_id", ["first_seen", "id"]),
    (
        "ix_issues_assignee_last_seen",
        ["assignee", "last_seen"],
        "ix_issues_assignee_last_seen_id",
        ["assignee", "last_seen", "id"],
    ),
    (
        "ix_issues_pattern_id",
        ["pattern_id"],
        "ix_issues_pattern_id_last_seen_id",
        ["pattern_id", "last_seen", "id"],
    ),
)


def upgrade() -> None:
    for old, _, new, columns in _REPLACED:
        op.create_index(new, "issues", columns)
        op.drop_index(old, table_name="issues")


def downgrade() -> None:
    for old, columns, new, _ in reversed(_REPLACED):
        op.create_index(old, "issues", columns)
        op.drop_index(new, table_name="issues")
