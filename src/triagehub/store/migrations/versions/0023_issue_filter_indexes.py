"""The issues list filtered by state or by repository and state: read in order from an index

A page of the issues list filtered by a state (``state=regressed``, 2 % of the issues) or by a
repository and a state (1.5 %) was read from the ``(last_seen, id)`` index, every row of the
table fetched to test the filter until a page was found: 2,600 and 4,800 rows for 51 on
``benchmarks/api_latency.py``'s 100,000 issues (PostgreSQL: 2.8 and 5.2 ms of a page's time,
the rest under 1 ms). ``(state, last_seen, id)`` serves a state in the page's order, and
``(repository_id, state)`` becomes ``(repository_id, state, last_seen, id)`` (what read the old
one reads a prefix of the new one).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "ix_issues_repository_id_state"
_WIDER = "ix_issues_repository_id_state_last_seen_id"
_STATE = "ix_issues_state_last_seen_id"


def upgrade() -> None:
    op.create_index(_WIDER, "issues", ["repository_id", "state", "last_seen", "id"])
    op.drop_index(_OLD, table_name="issues")
    op.create_index(_STATE, "issues", ["state", "last_seen", "id"])


def downgrade() -> None:
    op.drop_index(_STATE, table_name="issues")
    op.create_index(_OLD, "issues", ["repository_id", "state"])
    op.drop_index(_WIDER, table_name="issues")
