"""The issues list sorted by priority: each level read in order from an index

``sort=priority`` (and ``priority=`` filters with it) reads a page one level at a time, newest
activity first within a level (``store.queries.search``): ``WHERE priority = 'critical' ORDER BY
last_seen DESC, id DESC LIMIT 51``. No index served it: PostgreSQL walked ``(last_seen, id)``
backwards and fetched every issue to test its priority (1,053 rows, 926 buffers for the 51
critical issues of ``benchmarks/api_latency.py``'s 100,000; 5 % are critical), and with
``state=open`` it walked ``(state, last_seen, id)`` (about 20 open issues per critical open one).
``(priority, last_seen, id)`` gives each level's page in order on both backends.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_issues_priority_last_seen_id"


def upgrade() -> None:
    op.create_index(_INDEX, "issues", ["priority", "last_seen", "id"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="issues")
